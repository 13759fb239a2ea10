//! flotilla-agent: the binary. All behaviour lives in the library.

use clap::Parser;

fn main() {
    let cli = agent::cli::Cli::parse();
    let _ = (
        agent::paths::RootDir::new(&cli.root_dir),
        agent::tls::TlsOptions::default(),
    );
}

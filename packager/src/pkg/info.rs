//! The two XML documents Installer reads before the payload: the component's `PackageInfo`
//! (identifier, version, payload size, scripts) and the product's `Distribution` (title,
//! choices, and the reference to the component), as pkgbuild and productbuild write them.

use super::PkgMeta;
use crate::xml::escape;

/// `PackageInfo` of the component package; `files` counts the payload's entries.
pub fn package_info(meta: &PkgMeta, files: u64, install_kbytes: u64) -> String {
    let identifier = escape(&meta.identifier);
    let version = escape(&meta.version);
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<pkg-info overwrite-permissions="true" relocatable="false" identifier="{identifier}" postinstall-action="none" version="{version}" format-version="2" generator-version="flotilla" install-location="/" auth="root">
    <payload numberOfFiles="{files}" installKBytes="{install_kbytes}"/>
    <bundle-version/>
    <upgrade-bundle/>
    <update-bundle/>
    <atomic-update-bundle/>
    <strict-identifier/>
    <relocate/>
    <scripts>
        <postinstall file="./postinstall"/>
    </scripts>
</pkg-info>
"#
    )
}

/// `Distribution` of the product: one always-selected choice installing the component
/// `#{component}` (the directory of the flat package holding it).
pub fn distribution(meta: &PkgMeta, component: &str, install_kbytes: u64) -> String {
    let identifier = escape(&meta.identifier);
    let version = escape(&meta.version);
    let title = escape(&meta.title);
    let component = escape(component);
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<installer-gui-script minSpecVersion="2">
    <title>{title}</title>
    <options customize="never" hostArchitectures="arm64,x86_64" require-scripts="false" allow-external-scripts="false"/>
    <domains enable_anywhere="false" enable_currentUserHome="false" enable_localSystem="true"/>
    <choices-outline>
        <line choice="default">
            <line choice="{identifier}"/>
        </line>
    </choices-outline>
    <choice id="default" title="{title}"/>
    <choice id="{identifier}" title="{title}" visible="false" enabled="false" selected="true">
        <pkg-ref id="{identifier}"/>
    </choice>
    <pkg-ref id="{identifier}" version="{version}" installKBytes="{install_kbytes}" auth="root" onConclusion="none">#{component}</pkg-ref>
</installer-gui-script>
"#
    )
}

//! The tag numbers this writer uses (rpm's `rpmtag.h`), and the dependency flags.

// Regions: the first entry of each header, pointing at a trailer that covers every entry.
pub const HEADER_SIGNATURES: u32 = 62;
pub const HEADER_IMMUTABLE: u32 = 63;
pub const HEADER_I18NTABLE: u32 = 100;

// Signature header.
pub const SIG_LONGSIZE: u32 = 270;
pub const SIG_LONGARCHIVESIZE: u32 = 271;
pub const SIG_SHA1: u32 = 269;
pub const SIG_SHA256: u32 = 273;
pub const SIG_SIZE: u32 = 1000;
pub const SIG_MD5: u32 = 1004;
pub const SIG_PAYLOADSIZE: u32 = 1007;
pub const SIG_RESERVEDSPACE: u32 = 1008;

// Main header.
pub const NAME: u32 = 1000;
pub const VERSION: u32 = 1001;
pub const RELEASE: u32 = 1002;
pub const SUMMARY: u32 = 1004;
pub const DESCRIPTION: u32 = 1005;
pub const BUILDTIME: u32 = 1006;
pub const SIZE: u32 = 1009;
pub const LICENSE: u32 = 1014;
pub const GROUP: u32 = 1016;
pub const OS: u32 = 1021;
pub const ARCH: u32 = 1022;
pub const POSTIN: u32 = 1024;
pub const PREUN: u32 = 1025;
pub const POSTUN: u32 = 1026;
pub const FILESIZES: u32 = 1028;
pub const FILEMODES: u32 = 1030;
pub const FILERDEVS: u32 = 1033;
pub const FILEMTIMES: u32 = 1034;
pub const FILEDIGESTS: u32 = 1035;
pub const FILELINKTOS: u32 = 1036;
pub const FILEFLAGS: u32 = 1037;
pub const FILEUSERNAME: u32 = 1039;
pub const FILEGROUPNAME: u32 = 1040;
pub const SOURCERPM: u32 = 1044;
pub const FILEVERIFYFLAGS: u32 = 1045;
pub const PROVIDENAME: u32 = 1047;
pub const REQUIREFLAGS: u32 = 1048;
pub const REQUIRENAME: u32 = 1049;
pub const REQUIREVERSION: u32 = 1050;
pub const RPMVERSION: u32 = 1064;
pub const POSTINPROG: u32 = 1086;
pub const PREUNPROG: u32 = 1087;
pub const POSTUNPROG: u32 = 1088;
pub const FILEDEVICES: u32 = 1095;
pub const FILEINODES: u32 = 1096;
pub const FILELANGS: u32 = 1097;
pub const PROVIDEFLAGS: u32 = 1112;
pub const PROVIDEVERSION: u32 = 1113;
pub const DIRINDEXES: u32 = 1116;
pub const BASENAMES: u32 = 1117;
pub const DIRNAMES: u32 = 1118;
pub const PAYLOADFORMAT: u32 = 1124;
pub const PAYLOADCOMPRESSOR: u32 = 1125;
pub const PAYLOADFLAGS: u32 = 1126;
pub const FILEDIGESTALGO: u32 = 5011;
pub const LONGSIZE: u32 = 5009;
pub const ENCODING: u32 = 5062;
pub const PAYLOADDIGEST: u32 = 5092;
pub const PAYLOADDIGESTALGO: u32 = 5093;
pub const PAYLOADDIGESTALT: u32 = 5097;

/// `PGPHASHALGO_SHA256`, for file and payload digests.
pub const DIGEST_SHA256: u32 = 8;

// Dependency flags (`rpmds.h`).
pub const SENSE_LESS: u32 = 1 << 1;
pub const SENSE_EQUAL: u32 = 1 << 3;
pub const SENSE_INTERP: u32 = 1 << 8;
pub const SENSE_SCRIPT_POST: u32 = 1 << 10;
pub const SENSE_SCRIPT_PREUN: u32 = 1 << 11;
pub const SENSE_SCRIPT_POSTUN: u32 = 1 << 12;
pub const SENSE_RPMLIB: u32 = 1 << 24;

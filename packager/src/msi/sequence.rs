//! The standard actions and the order Windows Installer runs them in (the SDK's suggested
//! sequence numbers, as WiX schedules them), for each sequence table.

/// `(action, condition, sequence)`.
pub type Action = (&'static str, Option<&'static str>, i32);

const INSTALL_EXECUTE: &[Action] = &[
    ("FindRelatedProducts", None, 25),
    ("AppSearch", None, 50),
    ("LaunchConditions", None, 100),
    ("ValidateProductID", None, 700),
    ("CostInitialize", None, 800),
    ("FileCost", None, 900),
    ("CostFinalize", None, 1000),
    ("MigrateFeatureStates", None, 1200),
    ("InstallValidate", None, 1400),
    // The major upgrade: the previous package (its service stopped and deleted by its own
    // ServiceControl) goes before this one installs.
    ("RemoveExistingProducts", None, 1401),
    ("InstallInitialize", None, 1500),
    ("ProcessComponents", None, 1600),
    ("UnpublishFeatures", None, 1800),
    ("StopServices", Some("VersionNT"), 1900),
    ("DeleteServices", Some("VersionNT"), 2000),
    ("RemoveFiles", None, 3500),
    ("RemoveFolders", None, 3600),
    ("CreateFolders", None, 3700),
    ("InstallFiles", None, 4000),
    ("InstallServices", Some("VersionNT"), 5800),
    ("MsiConfigureServices", Some("VersionNT>=600"), 5850),
    ("StartServices", Some("VersionNT"), 5900),
    ("RegisterUser", None, 6000),
    ("RegisterProduct", None, 6100),
    ("PublishFeatures", None, 6300),
    ("PublishProduct", None, 6400),
    ("InstallFinalize", None, 6600),
];

const INSTALL_UI: &[Action] = &[
    ("FindRelatedProducts", None, 25),
    ("AppSearch", None, 50),
    ("LaunchConditions", None, 100),
    ("ValidateProductID", None, 700),
    ("CostInitialize", None, 800),
    ("FileCost", None, 900),
    ("CostFinalize", None, 1000),
    ("MigrateFeatureStates", None, 1200),
    ("ExecuteAction", None, 1300),
];

const ADMIN_EXECUTE: &[Action] = &[
    ("CostInitialize", None, 800),
    ("FileCost", None, 900),
    ("CostFinalize", None, 1000),
    ("InstallValidate", None, 1400),
    ("InstallInitialize", None, 1500),
    ("InstallAdminPackage", None, 3900),
    ("InstallFiles", None, 4000),
    ("InstallFinalize", None, 6600),
];

const ADMIN_UI: &[Action] = &[
    ("CostInitialize", None, 800),
    ("FileCost", None, 900),
    ("CostFinalize", None, 1000),
    ("ExecuteAction", None, 1300),
];

const ADVERTISE_EXECUTE: &[Action] = &[
    ("CostInitialize", None, 800),
    ("CostFinalize", None, 1000),
    ("InstallValidate", None, 1400),
    ("InstallInitialize", None, 1500),
    ("PublishFeatures", None, 6300),
    ("PublishProduct", None, 6400),
    ("InstallFinalize", None, 6600),
];

pub const TABLES: [(&str, &[Action]); 5] = [
    ("InstallExecuteSequence", INSTALL_EXECUTE),
    ("InstallUISequence", INSTALL_UI),
    ("AdminExecuteSequence", ADMIN_EXECUTE),
    ("AdminUISequence", ADMIN_UI),
    ("AdvtExecuteSequence", ADVERTISE_EXECUTE),
];

//! The database's tables, with Windows Installer's standard schemas (column types, keys and
//! categories as the SDK's schema declares them), filled from the plan.

use std::fs::File;

use ::msi::{Category, Column, Insert, Package, Value};

use super::plan::{Plan, ROOT_DIRECTORY};
use super::sequence;
use super::service::{self, SERVICE_NAME};
use super::MsiError;

/// fleetctl's UpgradeCode: the same across every version and every build, so that one
/// package replaces another (the MajorUpgrade below).
pub const UPGRADE_CODE: &str = "{B681CB20-107E-428A-9B14-2D3C1AFED244}";
pub const MANUFACTURER: &str = "Fleet Device Management (fleetdm.com)";
pub const PRODUCT_NAME: &str = "Fleet osquery";
pub const FEATURE: &str = "Orbit";
/// Set by FindRelatedProducts when an installed Fleet osquery (any version) is found.
pub const UPGRADE_PROPERTY: &str = "WIX_UPGRADE_DETECTED";
/// fleetctl's ACL for the install root, inherited below it: SYSTEM and Administrators full
/// control, Users read and execute (so secret.txt is not writable by users).
pub const ROOT_SDDL: &str = "O:SYG:SYD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)";

/// `Component.Attributes`: msidbComponentAttributes64bit.
const COMPONENT_64BIT: i32 = 0x100;
/// `File.Attributes`: msidbFileAttributesVital (a failure to install it fails the install).
const FILE_VITAL: i32 = 0x200;
/// `Upgrade.Attributes`: msidbUpgradeAttributesMigrateFeatures | VersionMinInclusive.
const UPGRADE_ANY_VERSION: i32 = 0x001 | 0x100;
/// `MsiServiceConfigFailureActions.Event`: msidbServiceConfigEventInstall | Reinstall.
const CONFIG_ON_INSTALL: i32 = 0x1 | 0x4;

pub struct Codes {
    pub product_code: String,
    pub product_version: String,
    pub fleet_url: String,
    pub cabinet_stream: String,
    pub arguments: String,
}

fn create(
    package: &mut Package<File>,
    name: &'static str,
    columns: Vec<Column>,
    rows: Vec<Vec<Value>>,
) -> Result<(), MsiError> {
    let table = |e| MsiError::Table(name, e);
    package.create_table(name, columns).map_err(table)?;
    if !rows.is_empty() {
        package
            .insert_rows(Insert::into(name).rows(rows))
            .map_err(table)?;
    }
    Ok(())
}

fn text(value: &str) -> Value {
    Value::from(value)
}

fn property(package: &mut Package<File>, codes: &Codes) -> Result<(), MsiError> {
    let secure = format!("{};{UPGRADE_PROPERTY}", service::FLEET_URL_PROPERTY);
    let rows = [
        ("ProductCode", codes.product_code.as_str()),
        ("UpgradeCode", UPGRADE_CODE),
        ("ProductName", PRODUCT_NAME),
        ("ProductVersion", codes.product_version.as_str()),
        ("ProductLanguage", "1033"),
        ("Manufacturer", MANUFACTURER),
        // A per-machine install (fleetctl's InstallScope="perMachine").
        ("ALLUSERS", "1"),
        // Reinstall every file whatever its version: the binaries carry no version resource
        // the installer could compare.
        ("REINSTALLMODE", "amus"),
        ("ARPNOREPAIR", "yes"),
        ("ARPNOMODIFY", "yes"),
        (service::FLEET_URL_PROPERTY, codes.fleet_url.as_str()),
        ("SecureCustomProperties", secure.as_str()),
    ];
    create(
        package,
        "Property",
        vec![
            Column::build("Property").primary_key().id_string(72),
            Column::build("Value").localizable().text_string(0),
        ],
        rows.iter().map(|(k, v)| vec![text(k), text(v)]).collect(),
    )
}

fn directory(package: &mut Package<File>, plan: &Plan<'_>) -> Result<(), MsiError> {
    let mut rows = vec![
        vec![text("TARGETDIR"), Value::Null, text("SourceDir")],
        // Windows Installer sets the folder's path itself; the name shapes administrative
        // images (and what msiextract writes).
        vec![
            text("ProgramFiles64Folder"),
            text("TARGETDIR"),
            text("PROGRA~1|Program Files"),
        ],
        vec![
            text(ROOT_DIRECTORY),
            text("ProgramFiles64Folder"),
            text("Orbit"),
        ],
    ];
    for dir in &plan.directories {
        rows.push(vec![
            text(&dir.key),
            text(&dir.parent),
            text(&dir.default_dir),
        ]);
    }
    create(
        package,
        "Directory",
        vec![
            Column::build("Directory").primary_key().id_string(72),
            Column::build("Directory_Parent")
                .nullable()
                .foreign_key("Directory", 1)
                .id_string(72),
            Column::build("DefaultDir")
                .localizable()
                .category(Category::DefaultDir)
                .string(255),
        ],
        rows,
    )
}

fn components(package: &mut Package<File>, plan: &Plan<'_>) -> Result<(), MsiError> {
    let rows = plan
        .files
        .iter()
        .map(|f| {
            vec![
                text(&f.component),
                text(&f.component_guid),
                text(&f.directory),
                Value::Int(COMPONENT_64BIT),
                Value::Null,
                text(&f.key),
            ]
        })
        .collect();
    create(
        package,
        "Component",
        vec![
            Column::build("Component").primary_key().id_string(72),
            Column::build("ComponentId")
                .nullable()
                .category(Category::Guid)
                .string(38),
            Column::build("Directory_")
                .foreign_key("Directory", 1)
                .id_string(72),
            Column::build("Attributes").int16(),
            Column::build("Condition")
                .nullable()
                .category(Category::Condition)
                .string(255),
            Column::build("KeyPath")
                .nullable()
                .foreign_key("File", 1)
                .id_string(72),
        ],
        rows,
    )?;
    create(
        package,
        "Feature",
        vec![
            Column::build("Feature").primary_key().id_string(38),
            Column::build("Feature_Parent")
                .nullable()
                .foreign_key("Feature", 1)
                .id_string(38),
            Column::build("Title")
                .nullable()
                .localizable()
                .text_string(64),
            Column::build("Description")
                .nullable()
                .localizable()
                .text_string(255),
            Column::build("Display").nullable().int16(),
            Column::build("Level").int16(),
            Column::build("Directory_")
                .nullable()
                .foreign_key("Directory", 1)
                .category(Category::UpperCase)
                .string(72),
            Column::build("Attributes").int16(),
        ],
        // Hidden (Display 0), always installed (Level 1), as fleetctl's feature.
        vec![vec![
            text(FEATURE),
            Value::Null,
            text(PRODUCT_NAME),
            Value::Null,
            Value::Int(0),
            Value::Int(1),
            Value::Null,
            Value::Int(0),
        ]],
    )?;
    create(
        package,
        "FeatureComponents",
        vec![
            Column::build("Feature_")
                .primary_key()
                .foreign_key("Feature", 1)
                .id_string(38),
            Column::build("Component_")
                .primary_key()
                .foreign_key("Component", 1)
                .id_string(72),
        ],
        plan.files
            .iter()
            .map(|f| vec![text(FEATURE), text(&f.component)])
            .collect(),
    )
}

fn files(package: &mut Package<File>, plan: &Plan<'_>, codes: &Codes) -> Result<(), MsiError> {
    let mut rows = Vec::new();
    for f in &plan.files {
        let size = i32::try_from(f.size).map_err(|_| MsiError::TooBig(f.path.to_string()))?;
        rows.push(vec![
            text(&f.key),
            text(&f.component),
            text(&f.file_name),
            Value::Int(size),
            Value::Null,
            Value::Null,
            Value::Int(FILE_VITAL),
            Value::Int(f.sequence),
        ]);
    }
    create(
        package,
        "File",
        vec![
            Column::build("File").primary_key().id_string(72),
            Column::build("Component_")
                .foreign_key("Component", 1)
                .id_string(72),
            Column::build("FileName")
                .localizable()
                .category(Category::Filename)
                .string(255),
            Column::build("FileSize").range(0, i32::MAX).int32(),
            Column::build("Version")
                .nullable()
                .category(Category::Version)
                .string(72),
            Column::build("Language")
                .nullable()
                .category(Category::Language)
                .string(20),
            Column::build("Attributes").nullable().int16(),
            Column::build("Sequence").range(1, i32::MAX).int32(),
        ],
        rows,
    )?;
    let last = plan.files.last().map_or(0, |f| f.sequence);
    create(
        package,
        "Media",
        vec![
            Column::build("DiskId")
                .primary_key()
                .range(1, 32767)
                .int16(),
            Column::build("LastSequence").range(0, i32::MAX).int32(),
            Column::build("DiskPrompt")
                .nullable()
                .localizable()
                .text_string(64),
            Column::build("Cabinet")
                .nullable()
                .category(Category::Cabinet)
                .string(255),
            Column::build("VolumeLabel").nullable().text_string(32),
            Column::build("Source")
                .nullable()
                .category(Category::Property)
                .string(72),
        ],
        // `#` names a stream of this database: the cabinet is embedded.
        vec![vec![
            Value::Int(1),
            Value::Int(last),
            Value::Null,
            Value::Str(format!("#{}", codes.cabinet_stream)),
            Value::Null,
            Value::Null,
        ]],
    )
}

/// fleetctl's MajorUpgrade with AllowDowngrades: any installed version, older, newer or the
/// same, is removed (RemoveExistingProducts, right after InstallValidate) before this one
/// is installed.
fn upgrade(package: &mut Package<File>) -> Result<(), MsiError> {
    create(
        package,
        "Upgrade",
        vec![
            Column::build("UpgradeCode")
                .primary_key()
                .category(Category::Guid)
                .string(38),
            Column::build("VersionMin")
                .primary_key()
                .nullable()
                .text_string(20),
            Column::build("VersionMax")
                .primary_key()
                .nullable()
                .text_string(20),
            Column::build("Language")
                .primary_key()
                .nullable()
                .category(Category::Language)
                .string(255),
            Column::build("Attributes")
                .primary_key()
                .range(0, i32::MAX)
                .int32(),
            Column::build("Remove").nullable().formatted_string(255),
            Column::build("ActionProperty")
                .category(Category::UpperCase)
                .string(72),
        ],
        vec![vec![
            text(UPGRADE_CODE),
            text("0.0.0"),
            Value::Null,
            Value::Null,
            Value::Int(UPGRADE_ANY_VERSION),
            Value::Null,
            text(UPGRADE_PROPERTY),
        ]],
    )
}

fn services(package: &mut Package<File>, plan: &Plan<'_>, codes: &Codes) -> Result<(), MsiError> {
    let component = plan
        .file(crate::layout::windows::SERVICE_EXE)
        .ok_or(MsiError::NoServiceExecutable)?
        .component
        .clone();
    create(
        package,
        "ServiceInstall",
        vec![
            Column::build("ServiceInstall").primary_key().id_string(72),
            Column::build("Name").formatted_string(255),
            Column::build("DisplayName")
                .nullable()
                .localizable()
                .formatted_string(255),
            Column::build("ServiceType").int32(),
            Column::build("StartType").int32(),
            Column::build("ErrorControl").int32(),
            Column::build("LoadOrderGroup")
                .nullable()
                .formatted_string(255),
            Column::build("Dependencies")
                .nullable()
                .formatted_string(255),
            Column::build("StartName").nullable().formatted_string(255),
            Column::build("Password").nullable().formatted_string(255),
            // Longer than the SDK's 255 with every option set; the length is advisory.
            Column::build("Arguments").nullable().formatted_string(0),
            Column::build("Component_")
                .foreign_key("Component", 1)
                .id_string(72),
            Column::build("Description")
                .nullable()
                .localizable()
                .formatted_string(255),
        ],
        vec![vec![
            text("OrbitService"),
            text(SERVICE_NAME),
            text(SERVICE_NAME),
            Value::Int(service::OWN_PROCESS),
            Value::Int(service::AUTO_START),
            Value::Int(service::ERROR_IGNORE),
            Value::Null,
            Value::Null,
            text("LocalSystem"),
            Value::Null,
            text(&codes.arguments),
            text(&component),
            text(service::DESCRIPTION),
        ]],
    )?;
    create(
        package,
        "ServiceControl",
        vec![
            Column::build("ServiceControl").primary_key().id_string(72),
            Column::build("Name").localizable().formatted_string(255),
            Column::build("Event").range(0, 187).int16(),
            Column::build("Arguments").nullable().formatted_string(255),
            Column::build("Wait").nullable().range(0, 1).int16(),
            Column::build("Component_")
                .foreign_key("Component", 1)
                .id_string(72),
        ],
        vec![vec![
            text("StartOrbitService"),
            text(SERVICE_NAME),
            Value::Int(service::CONTROL_EVENTS),
            Value::Null,
            Value::Int(1),
            text(&component),
        ]],
    )?;
    // fleetctl's util:ServiceConfig: restart after each failure, 1 s later; the failure
    // count resets after a day. (Windows Installer 5.0's own table, no custom action.)
    create(
        package,
        "MsiServiceConfigFailureActions",
        vec![
            Column::build("MsiServiceConfigFailureActions")
                .primary_key()
                .id_string(72),
            Column::build("Name").formatted_string(255),
            Column::build("Event").range(0, 7).int16(),
            Column::build("ResetPeriod").nullable().int32(),
            Column::build("RebootMessage")
                .nullable()
                .localizable()
                .formatted_string(255),
            Column::build("Command").nullable().formatted_string(255),
            Column::build("Actions").nullable().formatted_string(255),
            Column::build("DelayActions")
                .nullable()
                .formatted_string(255),
            Column::build("Component_")
                .foreign_key("Component", 1)
                .id_string(72),
        ],
        vec![vec![
            text("OrbitRestart"),
            text(SERVICE_NAME),
            Value::Int(CONFIG_ON_INSTALL),
            Value::Int(86_400),
            Value::Null,
            Value::Null,
            text("1[~]1[~]1"),
            text("1000[~]1000[~]1000"),
            text(&component),
        ]],
    )
}

/// The install root's ACL (fleetctl's PermissionEx on ORBITROOT), applied when the folder
/// is created; the files below inherit it.
fn permissions(package: &mut Package<File>, plan: &Plan<'_>) -> Result<(), MsiError> {
    let component = plan
        .files
        .iter()
        .find(|f| f.directory == ROOT_DIRECTORY)
        .ok_or(MsiError::NoRootFile)?
        .component
        .clone();
    create(
        package,
        "CreateFolder",
        vec![
            Column::build("Directory_")
                .primary_key()
                .foreign_key("Directory", 1)
                .id_string(72),
            Column::build("Component_")
                .primary_key()
                .foreign_key("Component", 1)
                .id_string(72),
        ],
        vec![vec![text(ROOT_DIRECTORY), text(&component)]],
    )?;
    create(
        package,
        "MsiLockPermissionsEx",
        vec![
            Column::build("MsiLockPermissionsEx")
                .primary_key()
                .id_string(72),
            Column::build("LockObject").id_string(72),
            Column::build("Table")
                .enum_values(&["CreateFolder", "File", "Registry", "ServiceInstall"])
                .id_string(32),
            Column::build("SDDL")
                .category(Category::FormattedSddlText)
                .string(0),
            Column::build("Condition")
                .nullable()
                .category(Category::Condition)
                .string(255),
        ],
        vec![vec![
            text("OrbitRootAcl"),
            text(ROOT_DIRECTORY),
            text("CreateFolder"),
            text(ROOT_SDDL),
            Value::Null,
        ]],
    )
}

/// Every table of the package.
pub fn write(package: &mut Package<File>, plan: &Plan<'_>, codes: &Codes) -> Result<(), MsiError> {
    property(package, codes)?;
    directory(package, plan)?;
    components(package, plan)?;
    files(package, plan, codes)?;
    upgrade(package)?;
    services(package, plan, codes)?;
    permissions(package, plan)?;
    for (name, actions) in sequence::TABLES {
        create(
            package,
            name,
            vec![
                Column::build("Action").primary_key().id_string(72),
                Column::build("Condition")
                    .nullable()
                    .category(Category::Condition)
                    .string(255),
                Column::build("Sequence")
                    .nullable()
                    .range(-4, 32767)
                    .int16(),
            ],
            actions
                .iter()
                .map(|(action, condition, number)| {
                    vec![
                        text(action),
                        condition.map_or(Value::Null, text),
                        Value::Int(*number),
                    ]
                })
                .collect(),
        )?;
    }
    Ok(())
}

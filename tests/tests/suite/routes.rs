//! template.yaml agrees with the router (`flotilla::api::routes`):
//! - every Lambda function of the template serves exactly the routes the router declares
//!   for its group (as `HttpApi` events on the one HTTP API), and every group has its function;
//! - every function is built the same way: provided.al2023 on arm64, cargo-lambda, from a
//!   binary of the workspace's `functions/*` packages.
//!
//! The template is read with yaml-rust2, which keeps the value of a tagged node and drops
//! its tag: `!Ref Api` reads as the string "Api", `!GetAtt X.Arn` as "X.Arn".

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use flotilla::api::routes::Group;
use flotilla_web::route_table;
use yaml_rust2::{Yaml, YamlLoader};

/// Functions of template.yaml that serve no route (queue workers, schedules...).
/// A function listed here must not have `HttpApi` events.
const NON_API_FUNCTIONS: &[&str] = &["JobsFunction", "PackagerWorkerFunction"];

/// Logical id of the template's `AWS::Serverless::HttpApi`.
const API_ID: &str = "Api";

const RUNTIME: &str = "provided.al2023";
const ARCHITECTURE: &str = "arm64";
const BUILD_METHOD: &str = "rust-cargolambda";
const HANDLER: &str = "bootstrap";
/// The workspace root: cargo-lambda builds each function's binary from there.
const CODE_URI: &str = ".";

/// (METHOD, path), e.g. ("POST", "/api/v1/osquery/enroll").
type Route = (String, String);

/// An `AWS::Serverless::Function` of the template, with `Globals.Function` applied.
#[derive(Debug, Default, PartialEq)]
struct TemplateFunction {
    runtime: Option<String>,
    architectures: Vec<String>,
    handler: Option<String>,
    code_uri: Option<String>,
    build_method: Option<String>,
    binary: Option<String>,
    /// Its `HttpApi` events, in template order (duplicates kept).
    routes: Vec<Route>,
    /// Events that cannot be read as routes of the HTTP API.
    event_problems: Vec<String>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests package lives in the workspace root")
        .to_path_buf()
}

fn load_template() -> BTreeMap<String, TemplateFunction> {
    let path = workspace_root().join("template.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse_template(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The functions of a SAM template, by logical id.
fn parse_template(text: &str) -> Result<BTreeMap<String, TemplateFunction>, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    let doc = docs.first().ok_or("empty document")?;
    let globals = &doc["Globals"]["Function"];
    let resources = doc["Resources"].as_hash().ok_or("no Resources mapping")?;

    let mut functions = BTreeMap::new();
    for (id, resource) in resources {
        let id = id.as_str().ok_or("a resource id is not a string")?;
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let props = &resource["Properties"];
        let mut function = TemplateFunction {
            runtime: string(property(props, globals, "Runtime")),
            architectures: merged_list(props, globals, "Architectures"),
            handler: string(property(props, globals, "Handler")),
            code_uri: string(property(props, globals, "CodeUri")),
            build_method: string(&resource["Metadata"]["BuildMethod"]),
            binary: string(&resource["Metadata"]["BuildProperties"]["Binary"]),
            ..TemplateFunction::default()
        };
        if let Some(events) = props["Events"].as_hash() {
            for (name, event) in events {
                read_event(&mut function, name.as_str().unwrap_or("?"), event);
            }
        }
        functions.insert(id.to_string(), function);
    }
    Ok(functions)
}

fn read_event(function: &mut TemplateFunction, name: &str, event: &Yaml) {
    let props = &event["Properties"];
    match event["Type"].as_str() {
        Some("HttpApi") => {}
        Some("Api") => {
            function.event_problems.push(format!(
                "event {name}: type Api (REST API); routes must be HttpApi events"
            ));
            return;
        }
        // Queue, schedule... events are not routes.
        _ => return,
    }
    match (props["Method"].as_str(), props["Path"].as_str()) {
        (Some(method), Some(path)) => function
            .routes
            .push((method.to_ascii_uppercase(), path.to_string())),
        _ => function.event_problems.push(format!(
            "event {name}: an HttpApi event needs Method and Path (without them it is a catch-all)"
        )),
    }
    if !refers_to(&props["ApiId"], API_ID) {
        function.event_problems.push(format!(
            "event {name}: ApiId must be !Ref {API_ID} (without it SAM attaches the route to a second, implicit API)"
        ));
    }
}

/// A function property, else the one of `Globals.Function`.
fn property<'a>(props: &'a Yaml, globals: &'a Yaml, key: &str) -> &'a Yaml {
    match &props[key] {
        Yaml::BadValue => &globals[key],
        value => value,
    }
}

/// SAM concatenates a list of `Globals.Function` with the function's own.
fn merged_list(props: &Yaml, globals: &Yaml, key: &str) -> Vec<String> {
    [&globals[key], &props[key]]
        .into_iter()
        .filter_map(Yaml::as_vec)
        .flatten()
        .map(|item| {
            item.as_str()
                .map_or_else(|| format!("{item:?}"), String::from)
        })
        .collect()
}

fn string(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `!Ref <id>` (read as the plain string) or `{Ref: <id>}`.
fn refers_to(value: &Yaml, id: &str) -> bool {
    match value {
        Yaml::String(s) => s == id,
        Yaml::Hash(_) => value["Ref"].as_str() == Some(id),
        _ => false,
    }
}

/// The router's routes, by the logical id of the function serving them.
fn router_routes() -> BTreeMap<&'static str, Vec<Route>> {
    let mut by_function: BTreeMap<&'static str, Vec<Route>> = Group::ALL
        .iter()
        .map(|group| (group.function_id(), Vec::new()))
        .collect();
    for spec in route_table() {
        by_function
            .entry(spec.group.function_id())
            .or_default()
            .push((spec.method.to_string(), spec.path.to_string()));
    }
    by_function
}

/// Package and `[[bin]]` names of every `functions/*/Cargo.toml`.
fn workspace_binaries(root: &Path) -> BTreeSet<String> {
    let dir = root.join("functions");
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut names = BTreeSet::new();
    for entry in entries {
        let manifest = entry.expect("directory entry").path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let table: toml::Table = text
            .parse()
            .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
        let package = table
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(toml::Value::as_str);
        let bins = table
            .get("bin")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|bin| bin.get("name").and_then(toml::Value::as_str));
        names.extend(package.into_iter().chain(bins).map(String::from));
    }
    names
}

fn format_routes<'a>(routes: impl IntoIterator<Item = &'a Route>) -> String {
    routes
        .into_iter()
        .map(|(method, path)| format!("\n      {method} {path}"))
        .collect()
}

/// Differences between the template's routes and the router's, one message each.
fn route_problems(
    template: &BTreeMap<String, TemplateFunction>,
    router: &BTreeMap<&str, Vec<Route>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, declared) in router {
        if !template.contains_key(*id) {
            problems.push(format!(
                "{id}: the router declares this function's group, template.yaml has no such function; its routes:{}",
                format_routes(declared)
            ));
        }
    }
    let mut served_by: BTreeMap<&Route, Vec<&str>> = BTreeMap::new();
    for (id, function) in template {
        for problem in &function.event_problems {
            problems.push(format!("{id}: {problem}"));
        }
        for route in &function.routes {
            served_by.entry(route).or_default().push(id);
        }
        let expected: BTreeSet<&Route> = match router.get(id.as_str()) {
            Some(declared) => declared.iter().collect(),
            None if NON_API_FUNCTIONS.contains(&id.as_str()) => BTreeSet::new(),
            None => {
                problems.push(format!(
                    "{id}: a function of template.yaml that is no router group \
                     (add a Group in shared/src/api/routes.rs, or list it in NON_API_FUNCTIONS if it serves no route)"
                ));
                continue;
            }
        };
        let actual: BTreeSet<&Route> = function.routes.iter().collect();
        let missing: Vec<&Route> = expected.difference(&actual).copied().collect();
        let extra: Vec<&Route> = actual.difference(&expected).copied().collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{id}: routes the router declares but template.yaml lacks:{}",
                format_routes(missing)
            ));
        }
        if !extra.is_empty() {
            problems.push(format!(
                "{id}: routes in template.yaml the router does not declare for this group:{}",
                format_routes(extra)
            ));
        }
    }
    for ((method, path), ids) in served_by {
        if ids.len() > 1 {
            problems.push(format!(
                "{method} {path}: declared {} times in template.yaml (by {})",
                ids.len(),
                ids.join(", ")
            ));
        }
    }
    problems
}

/// Build settings every function must share, one message per deviation.
fn build_problems(
    template: &BTreeMap<String, TemplateFunction>,
    binaries: &BTreeSet<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, f) in template {
        for (what, actual, expected) in [
            ("Runtime", &f.runtime, RUNTIME),
            ("Handler", &f.handler, HANDLER),
            ("CodeUri", &f.code_uri, CODE_URI),
            ("Metadata.BuildMethod", &f.build_method, BUILD_METHOD),
        ] {
            if actual.as_deref() != Some(expected) {
                problems.push(format!("{id}: {what} is {actual:?}, expected {expected:?}"));
            }
        }
        if f.architectures != [ARCHITECTURE] {
            problems.push(format!(
                "{id}: Architectures is {:?}, expected [{ARCHITECTURE:?}]",
                f.architectures
            ));
        }
        match &f.binary {
            Some(binary) if binaries.contains(binary) => {}
            Some(binary) => problems.push(format!(
                "{id}: Metadata.BuildProperties.Binary {binary:?} is no package or [[bin]] of functions/*/Cargo.toml (those are {binaries:?})"
            )),
            None => problems.push(format!("{id}: no Metadata.BuildProperties.Binary")),
        }
    }
    problems
}

fn assert_no_problems(what: &str, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s):\n  - {}\n",
        problems.len(),
        problems.join("\n  - ")
    );
}

#[test]
fn template_routes_match_the_router() {
    let template = load_template();
    let router = router_routes();
    assert!(
        router.values().map(Vec::len).sum::<usize>() > 0,
        "the router declares no route"
    );
    assert_no_problems(
        "template.yaml and shared/src/api/routes.rs disagree",
        route_problems(&template, &router),
    );
}

#[test]
fn template_functions_are_arm64_cargo_lambda_builds() {
    let template = load_template();
    assert!(!template.is_empty(), "template.yaml declares no function");
    let binaries = workspace_binaries(&workspace_root());
    assert_no_problems(
        "template.yaml's functions",
        build_problems(&template, &binaries),
    );
}

// ---------------------------------------------------------------- self-checks
// The parsing and comparison above, on small inputs (independent of the real files).

const SAMPLE: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: provided.al2023
    Architectures: [arm64]
    Handler: bootstrap
    CodeUri: .
    Environment:
      Variables:
        TABLE: !Ref Table
        STREAM_ARN: !GetAtt Stream.Arn
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
  Stream:
    Type: AWS::KinesisFirehose::DeliveryStream
    Properties:
      ExtendedS3DestinationConfiguration:
        Prefix: "logs/dt=!{timestamp:yyyy-MM-dd}/"
        ErrorOutputPrefix: logs-errors/!{firehose:error-output-type}/
        BucketARN: !GetAtt [Bucket, Arn]
  OneFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: flotilla-one
    Properties:
      Policies:
        - Statement:
            - Effect: Allow
              Action: s3:GetObject
              Resource: !Sub "${Bucket.Arn}/x/*"
        - !If [SomeCondition, !Ref AWS::NoValue, !Ref Policy]
      Events:
        Short:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: post
            Path: /api/one
        Long:
          Type: HttpApi
          Properties:
            ApiId:
              Ref: Api
            Method: GET
            Path: /api/one/{id}
        Implicit:
          Type: HttpApi
          Properties:
            Method: GET
            Path: /elsewhere
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
  TwoFunction:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2
      Architectures: [x86_64]
      Events:
        CatchAll:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
        Rest:
          Type: Api
          Properties:
            Method: GET
            Path: /rest
Outputs:
  Url:
    Value: !Sub "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"
"#;

fn route(method: &str, path: &str) -> Route {
    (method.to_string(), path.to_string())
}

#[test]
fn self_check_parses_a_template_with_short_tags() {
    let functions = parse_template(SAMPLE).expect("sample parses");
    assert_eq!(
        functions.keys().collect::<Vec<_>>(),
        ["OneFunction", "TwoFunction"]
    );

    let one = &functions["OneFunction"];
    assert_eq!(one.runtime.as_deref(), Some("provided.al2023"));
    assert_eq!(one.architectures, ["arm64"]);
    assert_eq!(one.handler.as_deref(), Some("bootstrap"));
    assert_eq!(one.code_uri.as_deref(), Some("."));
    assert_eq!(one.build_method.as_deref(), Some("rust-cargolambda"));
    assert_eq!(one.binary.as_deref(), Some("flotilla-one"));
    assert_eq!(
        one.routes,
        [
            route("POST", "/api/one"),
            route("GET", "/api/one/{id}"),
            route("GET", "/elsewhere")
        ]
    );
    assert_eq!(one.event_problems.len(), 1, "{:?}", one.event_problems);
    assert!(one.event_problems[0].starts_with("event Implicit: ApiId"));

    let two = &functions["TwoFunction"];
    assert_eq!(two.runtime.as_deref(), Some("provided.al2"));
    // SAM concatenates Globals lists with the function's.
    assert_eq!(two.architectures, ["arm64", "x86_64"]);
    assert_eq!(two.build_method, None);
    assert!(two.routes.is_empty());
    assert_eq!(two.event_problems.len(), 2, "{:?}", two.event_problems);
    assert!(
        two.event_problems[0].starts_with("event CatchAll: an HttpApi event needs Method and Path")
    );
    assert!(two.event_problems[1].starts_with("event Rest: type Api"));
}

#[test]
fn self_check_reports_route_differences() {
    let template = parse_template(SAMPLE).expect("sample parses");
    let router: BTreeMap<&str, Vec<Route>> = [
        (
            "OneFunction",
            vec![
                route("POST", "/api/one"),
                route("GET", "/api/one/{id}"),
                route("DELETE", "/api/one/{id}"),
            ],
        ),
        ("ThreeFunction", vec![route("GET", "/three")]),
    ]
    .into_iter()
    .collect();
    let problems = route_problems(&template, &router);
    let expected = [
        "ThreeFunction: the router declares this function's group, template.yaml has no such function; its routes:\n      GET /three",
        "OneFunction: event Implicit: ApiId must be !Ref Api",
        "OneFunction: routes the router declares but template.yaml lacks:\n      DELETE /api/one/{id}",
        "OneFunction: routes in template.yaml the router does not declare for this group:\n      GET /elsewhere",
        "TwoFunction: event CatchAll: an HttpApi event needs Method and Path",
        "TwoFunction: event Rest: type Api",
        "TwoFunction: a function of template.yaml that is no router group",
    ];
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    for (problem, start) in problems.iter().zip(expected) {
        assert!(
            problem.starts_with(start),
            "{problem:?} should start with {start:?}"
        );
    }

    let mut doubled = template;
    let two = doubled.get_mut("TwoFunction").expect("TwoFunction");
    two.routes.push(route("POST", "/api/one"));
    let problems = route_problems(&doubled, &router);
    assert!(
        problems.contains(
            &"POST /api/one: declared 2 times in template.yaml (by OneFunction, TwoFunction)"
                .to_string()
        ),
        "{problems:#?}"
    );
}

#[test]
fn self_check_reports_build_differences() {
    let template = parse_template(SAMPLE).expect("sample parses");
    let binaries: BTreeSet<String> = ["flotilla-one".to_string()].into();
    let problems = build_problems(&template, &binaries);
    let expected = [
        "TwoFunction: Runtime is Some(\"provided.al2\"), expected \"provided.al2023\"",
        "TwoFunction: Metadata.BuildMethod is None, expected \"rust-cargolambda\"",
        "TwoFunction: Architectures is [\"arm64\", \"x86_64\"], expected [\"arm64\"]",
        "TwoFunction: no Metadata.BuildProperties.Binary",
    ];
    assert_eq!(problems, expected);

    let problems = build_problems(&template, &BTreeSet::new());
    assert!(
        problems[0].starts_with(
            "OneFunction: Metadata.BuildProperties.Binary \"flotilla-one\" is no package"
        ),
        "{problems:#?}"
    );
}

#[test]
fn self_check_reads_workspace_binaries() {
    let binaries = workspace_binaries(&workspace_root());
    for name in [
        "flotilla-enroll",
        "flotilla-config",
        "flotilla-distributed",
        "flotilla-log",
        "flotilla-admin",
        "flotilla-local",
    ] {
        assert!(binaries.contains(name), "{name} not in {binaries:?}");
    }
}

/// The schedule's message is the sweep job as the jobs function reads it.
#[test]
fn the_package_sweep_schedule_sends_the_sweep_job() {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
            .expect("template.yaml");
    let message = flotilla::jobs::Job::SweepPackages
        .to_message()
        .expect("message");
    assert!(
        template.contains(&format!("Input: '{message}'")),
        "PackageSweepSchedule's Input must be {message}"
    );
}

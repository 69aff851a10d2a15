//! A small validator for the JSON-schema dialect used by
//! `tests/fixtures/cloudflare/openapi-subset.json` (OpenAPI 3.0.3 schema objects).
//!
//! Why hand-written: the `jsonschema` crate (0.61, default features off) would add about
//! 40 crates not otherwise in Cargo.lock (a second major version of `syn`, `fraction` and
//! `num-bigint`, `fancy-regex`, `uuid-simd`, ...; ~30 s of CPU to build on this 2-core
//! machine) and still does not understand OpenAPI 3.0's `nullable`. The subset uses only a
//! dozen keywords, all implemented here. Any keyword this validator does not know
//! is reported as an error instead of being silently ignored, so it can never pass
//! a body just because it skipped a rule.
//!
//! OpenAPI 3.0 semantics honoured (README quirk 3):
//! - `nullable: true` lets `null` through the `type` check (an `enum` still has to
//!   list `null`, as the failure envelope's `result` does);
//! - `readOnly`, `format`, `example`, `description`, `title`, `default`, `x-*` are
//!   annotations.

use std::sync::OnceLock;

use serde_json::Value;

/// Path of the copied OpenAPI subset.
pub const SPEC_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/cloudflare/openapi-subset.json"
);

/// One validation failure: a JSON pointer into the instance, the keyword that failed, and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub path: String,
    pub keyword: String,
    pub message: String,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "(root)"
        } else {
            &self.path
        };
        write!(f, "{path}: {} ({})", self.message, self.keyword)
    }
}

/// Keywords that carry no validation meaning.
const ANNOTATIONS: &[&str] = &[
    "description",
    "example",
    "examples",
    "title",
    "readOnly",
    "writeOnly",
    "format",
    "default",
    "deprecated",
];

/// Keywords this validator implements.
const IMPLEMENTED: &[&str] = &[
    "type",
    "nullable",
    "enum",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "allOf",
    "anyOf",
    "oneOf",
    "maxLength",
    "minLength",
    "minimum",
    "maximum",
    "pattern",
    "uniqueItems",
    "minItems",
    "maxItems",
];

/// Validates `instance` against `schema`; an empty vector means valid.
pub fn validate(schema: &Value, instance: &Value) -> Vec<SchemaError> {
    let mut errors = Vec::new();
    check(schema, instance, "", &mut errors);
    errors
}

/// True when `instance` satisfies `schema`.
pub fn is_valid(schema: &Value, instance: &Value) -> bool {
    validate(schema, instance).is_empty()
}

/// Every keyword in `schema` (recursively) that is neither implemented nor an annotation.
pub fn unsupported_keywords(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk_keywords(schema, "", &mut out);
    out
}

fn walk_keywords(schema: &Value, path: &str, out: &mut Vec<String>) {
    let Some(obj) = schema.as_object() else {
        if !schema.is_boolean() {
            out.push(format!("{path}: schema is not an object"));
        }
        return;
    };
    for (key, value) in obj {
        let here = format!("{path}/{key}");
        match key.as_str() {
            "properties" => {
                if let Some(props) = value.as_object() {
                    for (name, sub) in props {
                        walk_keywords(sub, &format!("{here}/{name}"), out);
                    }
                }
            }
            "items" | "additionalProperties" => walk_keywords(value, &here, out),
            "allOf" | "anyOf" | "oneOf" => {
                if let Some(list) = value.as_array() {
                    for (i, sub) in list.iter().enumerate() {
                        walk_keywords(sub, &format!("{here}/{i}"), out);
                    }
                }
            }
            k if IMPLEMENTED.contains(&k) || ANNOTATIONS.contains(&k) || k.starts_with("x-") => {}
            k => out.push(format!("{path}: unsupported keyword `{k}`")),
        }
    }
}

fn push(errors: &mut Vec<SchemaError>, path: &str, keyword: &str, message: String) {
    errors.push(SchemaError {
        path: path.to_string(),
        keyword: keyword.to_string(),
        message,
    });
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if is_integer(n) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integer(n: &serde_json::Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

fn has_type(v: &Value, ty: &str) -> bool {
    match ty {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.as_number().is_some_and(is_integer),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    }
}

fn check(schema: &Value, instance: &Value, path: &str, errors: &mut Vec<SchemaError>) {
    let obj = match schema {
        Value::Bool(true) => return,
        Value::Bool(false) => {
            push(errors, path, "false", "no value is allowed here".into());
            return;
        }
        Value::Object(obj) => obj,
        _ => {
            push(errors, path, "schema", "schema is not an object".into());
            return;
        }
    };
    let nullable = obj.get("nullable").and_then(Value::as_bool) == Some(true);

    for (key, kw) in obj {
        match key.as_str() {
            "type" => {
                let allowed: Vec<&str> = match kw {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                    _ => {
                        push(errors, path, "type", "malformed `type`".into());
                        continue;
                    }
                };
                let ok = allowed.iter().any(|t| has_type(instance, t))
                    || (nullable && instance.is_null());
                if !ok {
                    push(
                        errors,
                        path,
                        "type",
                        format!(
                            "expected {}{}, found {}",
                            allowed.join(" or "),
                            if nullable { " or null" } else { "" },
                            type_name(instance)
                        ),
                    );
                }
            }
            "nullable" => {}
            "enum" => {
                let list = kw.as_array().map(Vec::as_slice).unwrap_or(&[]);
                if !list.iter().any(|allowed| json_eq(allowed, instance)) {
                    push(
                        errors,
                        path,
                        "enum",
                        format!("{instance} is not one of {kw}"),
                    );
                }
            }
            "properties" => {
                if let (Some(props), Some(map)) = (kw.as_object(), instance.as_object()) {
                    for (name, sub) in props {
                        if let Some(value) = map.get(name) {
                            check(sub, value, &format!("{path}/{}", escape(name)), errors);
                        }
                    }
                }
            }
            "required" => {
                if let Some(map) = instance.as_object() {
                    for name in kw
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                    {
                        if !map.contains_key(name) {
                            push(
                                errors,
                                path,
                                "required",
                                format!("missing required property `{name}`"),
                            );
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(map) = instance.as_object() {
                    let declared = obj.get("properties").and_then(Value::as_object);
                    for (name, value) in map {
                        if declared.is_some_and(|d| d.contains_key(name)) {
                            continue;
                        }
                        let here = format!("{path}/{}", escape(name));
                        match kw {
                            Value::Bool(false) => push(
                                errors,
                                &here,
                                "additionalProperties",
                                format!("property `{name}` is not allowed"),
                            ),
                            other => check(other, value, &here, errors),
                        }
                    }
                }
            }
            "items" => {
                if let Some(list) = instance.as_array() {
                    for (i, item) in list.iter().enumerate() {
                        check(kw, item, &format!("{path}/{i}"), errors);
                    }
                }
            }
            "allOf" => {
                for sub in kw.as_array().into_iter().flatten() {
                    check(sub, instance, path, errors);
                }
            }
            "anyOf" | "oneOf" => {
                let subs: Vec<&Value> = kw.as_array().into_iter().flatten().collect();
                let passing = subs.iter().filter(|s| is_valid(s, instance)).count();
                if key == "anyOf" && passing == 0 {
                    push(
                        errors,
                        path,
                        "anyOf",
                        format!("matches none of the {} alternatives", subs.len()),
                    );
                } else if key == "oneOf" && passing != 1 {
                    push(
                        errors,
                        path,
                        "oneOf",
                        format!("matches {passing} alternatives instead of exactly one"),
                    );
                }
            }
            "maxLength" | "minLength" => {
                if let (Some(limit), Some(s)) = (kw.as_u64(), instance.as_str()) {
                    let len = s.chars().count() as u64;
                    if (key == "maxLength" && len > limit) || (key == "minLength" && len < limit) {
                        push(
                            errors,
                            path,
                            key,
                            format!("string of {len} characters violates {key} {limit}"),
                        );
                    }
                }
            }
            "minItems" | "maxItems" => {
                if let (Some(limit), Some(list)) = (kw.as_u64(), instance.as_array()) {
                    let len = list.len() as u64;
                    if (key == "maxItems" && len > limit) || (key == "minItems" && len < limit) {
                        push(
                            errors,
                            path,
                            key,
                            format!("array of {len} items violates {key} {limit}"),
                        );
                    }
                }
            }
            "minimum" | "maximum" => {
                if let (Some(limit), Some(n)) = (kw.as_f64(), instance.as_f64())
                    && ((key == "minimum" && n < limit) || (key == "maximum" && n > limit))
                {
                    push(errors, path, key, format!("{instance} violates {key} {kw}"));
                }
            }
            "pattern" => {
                if let (Some(pattern), Some(s)) = (kw.as_str(), instance.as_str()) {
                    match regex::Regex::new(pattern) {
                        Ok(re) if re.is_match(s) => {}
                        Ok(_) => push(
                            errors,
                            path,
                            "pattern",
                            format!("{instance} does not match /{pattern}/"),
                        ),
                        Err(e) => push(
                            errors,
                            path,
                            "pattern",
                            format!("cannot compile /{pattern}/: {e}"),
                        ),
                    }
                }
            }
            "uniqueItems" => {
                if kw.as_bool() == Some(true)
                    && let Some(list) = instance.as_array()
                {
                    for (i, a) in list.iter().enumerate() {
                        if list[..i].iter().any(|b| json_eq(a, b)) {
                            push(
                                errors,
                                &format!("{path}/{i}"),
                                "uniqueItems",
                                "duplicate array item".into(),
                            );
                        }
                    }
                }
            }
            k if ANNOTATIONS.contains(&k) || k.starts_with("x-") => {}
            k => push(errors, path, k, format!("unsupported schema keyword `{k}`")),
        }
    }
}

/// JSON equality where numbers compare by value (`1 == 1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// The parsed OpenAPI subset with accessors for the schemas the fake server needs.
pub struct Spec {
    doc: Value,
}

static SPEC: OnceLock<Spec> = OnceLock::new();

impl Spec {
    /// The subset, loaded once per test binary. Panics if the fixture is missing or not JSON.
    pub fn get() -> &'static Spec {
        SPEC.get_or_init(|| {
            let text = std::fs::read_to_string(SPEC_PATH)
                .unwrap_or_else(|e| panic!("cannot read {SPEC_PATH}: {e}"));
            let doc = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{SPEC_PATH} is not JSON: {e}"));
            Spec { doc }
        })
    }

    /// The whole document.
    pub fn document(&self) -> &Value {
        &self.doc
    }

    /// `components.schemas[name]`; panics on an unknown name.
    pub fn component(&self, name: &str) -> &Value {
        self.doc
            .pointer(&format!("/components/schemas/{}", escape(name)))
            .unwrap_or_else(|| panic!("no component schema `{name}` in the subset"))
    }

    /// The operation object, e.g. `operation("/zones/{zone_id}/purge_cache", "post")`.
    pub fn operation(&self, path: &str, method: &str) -> &Value {
        self.doc
            .pointer(&format!("/paths/{}/{method}", escape(path)))
            .unwrap_or_else(|| panic!("no operation {method} {path} in the subset"))
    }

    /// The JSON request-body schema of an operation.
    pub fn request_schema(&self, path: &str, method: &str) -> &Value {
        self.operation(path, method)
            .pointer("/requestBody/content/application~1json/schema")
            .unwrap_or_else(|| panic!("{method} {path} has no JSON request body"))
    }

    /// The JSON response schema of an operation for a status key such as "200" or "4XX".
    pub fn response_schema(&self, path: &str, method: &str, status: &str) -> &Value {
        self.operation(path, method)
            .pointer(&format!(
                "/responses/{status}/content/application~1json/schema"
            ))
            .unwrap_or_else(|| panic!("{method} {path} has no {status} JSON response"))
    }

    /// The schema of a named query parameter of an operation, if declared.
    pub fn query_parameter(&self, path: &str, method: &str, name: &str) -> Option<&Value> {
        self.operation(path, method)
            .get("parameters")?
            .as_array()?
            .iter()
            .find(|p| {
                p.get("in").and_then(Value::as_str) == Some("query")
                    && p.get("name").and_then(Value::as_str) == Some(name)
            })?
            .get("schema")
    }
}

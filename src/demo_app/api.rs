//! The demo app's JSON API, in two versions: what a release that renames a field looks like
//! to the clients still reading the old name (seed 001's `users.fullname` → `full_name`;
//! seed 002's old mobile apps calling v1 fields).
//!
//! `GET /api/users/ID` answers the user with that id:
//! - v1: `{"id": 42, "fullname": "Ada Lovelace", "email": …, "api_version": "v1"}`;
//! - v2: `full_name` in place of `fullname` — a rename, breaking every old client;
//! - v2 with `--compat`: both fields (expand: the old field stays until no client reads it).
//!
//! Any other path under `/api/` is a 404 with a JSON error. Knows nothing of HTTP servers.

use http::StatusCode;

/// The response header naming the API version that answered.
pub const API_VERSION_HEADER: &str = "x-api-version";

/// Which version of the API a replica serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    V2,
}

impl ApiVersion {
    pub fn name(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1",
            ApiVersion::V2 => "v2",
        }
    }
}

/// The answer to `path` when it is an API path; `None` for anything else.
pub fn respond(path: &str, version: ApiVersion, compat: bool) -> Option<(StatusCode, String)> {
    let rest = path.strip_prefix("/api/")?;
    let id = rest
        .strip_prefix("users/")
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|id| id.parse::<u64>().ok());
    let Some(id) = id else {
        let body = serde_json::json!({"error": "not found", "path": path});
        return Some((StatusCode::NOT_FOUND, body.to_string()));
    };
    let name = "Ada Lovelace";
    let mut user = serde_json::json!({
        "id": id,
        "email": "ada@example.com",
        "api_version": version.name(),
    });
    match (version, compat) {
        (ApiVersion::V1, _) => user["fullname"] = name.into(),
        (ApiVersion::V2, false) => user["full_name"] = name.into(),
        (ApiVersion::V2, true) => {
            user["full_name"] = name.into();
            user["fullname"] = name.into();
        }
    }
    Some((StatusCode::OK, user.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(version: ApiVersion, compat: bool) -> serde_json::Value {
        let (status, body) = respond("/api/users/42", version, compat).expect("an API path");
        assert_eq!(status, StatusCode::OK);
        serde_json::from_str(&body).expect("JSON")
    }

    #[test]
    fn v2_renames_fullname_and_compat_v2_serves_both_names() {
        let v1 = user(ApiVersion::V1, false);
        assert_eq!(v1["fullname"], "Ada Lovelace");
        assert_eq!(v1["id"], 42);
        assert!(v1.get("full_name").is_none());
        let v2 = user(ApiVersion::V2, false);
        assert_eq!(v2["full_name"], "Ada Lovelace");
        assert!(
            v2.get("fullname").is_none(),
            "the naive v2 dropped the old name"
        );
        let compat = user(ApiVersion::V2, true);
        assert_eq!(compat["full_name"], "Ada Lovelace");
        assert_eq!(compat["fullname"], "Ada Lovelace");
    }

    #[test]
    fn only_api_paths_are_answered_and_unknown_ones_are_404() {
        assert!(respond("/", ApiVersion::V1, false).is_none());
        let (status, _) = respond("/api/orders", ApiVersion::V1, false).expect("API path");
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = respond("/api/users/x", ApiVersion::V2, false).expect("API path");
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

//! Typed errors: each carries the object at fault (path, URL, setting, HTTP status), a hint for
//! the user, and the exit code it maps to.

use std::path::PathBuf;
use std::process::ExitCode;

/// The exit codes sitepurge promises (documented in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything planned was done (or there was nothing to do).
    Ok = 0,
    /// A purge failed: some URLs are still pending and the state keeps them for the next run.
    PurgeFailed = 1,
    /// Bad flags, configuration file, settings, credentials or zone: fix the setup.
    Usage = 2,
    /// The state file cannot be used (corrupt, truncated, newer format, not writable).
    State = 3,
    /// The output folder could not be read (missing folder, unreadable file).
    Site = 4,
    /// Another sitepurge holds the state file's lock.
    Locked = 5,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read config file {path}: {source}")]
    ConfigRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    ConfigParse { path: PathBuf, message: String },
    #[error("invalid setting `{setting}`: {message}")]
    Setting {
        setting: &'static str,
        message: String,
        hint: Option<String>,
    },
    #[error("no output folder given, and neither _site nor public exists in {cwd}")]
    NoOutputFolder { cwd: PathBuf },
    #[error("both _site and public exist in {cwd}: which one is the output folder?")]
    AmbiguousOutputFolder { cwd: PathBuf },
    #[error("output folder {path} does not exist")]
    MissingSite { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    SiteRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is corrupt: {message}")]
    StateCorrupt { path: PathBuf, message: String },
    #[error(
        "state file {path} was written in format {found} by {tool}; this sitepurge reads format {supported} or older"
    )]
    StateTooNew {
        path: PathBuf,
        found: u64,
        supported: u64,
        tool: String,
    },
    #[error("cannot read state file {path}: {source}")]
    StateRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write state file {path}: {source}")]
    StateWrite {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{action} failed: {failure}")]
    Api {
        action: String,
        failure: crate::provider::Failure,
    },
    #[error("another sitepurge{} is using the state file {}", holder.map(|p| format!(" (pid {p})")).unwrap_or_default(), state.display())]
    Locked { state: PathBuf, holder: Option<u32> },
    #[error("the state file {state} is inside the output folder {dir}")]
    StateInsideSite { state: PathBuf, dir: PathBuf },
    #[error("the lock file {path} is a symbolic link; refusing to follow it")]
    LockIsLink { path: PathBuf },
    #[error("stopped by a signal before anything was purged; nothing was recorded")]
    Stopped,
    #[error("{path} already exists")]
    ConfigExists { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    WriteFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read plan file {path}: {source}")]
    PlanRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("plan file {path} cannot be used: {message}")]
    PlanCorrupt { path: PathBuf, message: String },
    #[error("plan file {path} no longer matches: {what}")]
    PlanStale { path: PathBuf, what: String },
    #[error("cannot read the published state at {url}: {message}")]
    StateUrl { url: String, message: String },
}

impl Error {
    /// A setting that cannot be used: which one, what is wrong, and what to do.
    pub fn setting(setting: &'static str, message: String, hint: Option<&str>) -> Error {
        Error::Setting {
            setting,
            message,
            hint: hint.map(str::to_string),
        }
    }

    pub fn exit(&self) -> Exit {
        match self {
            Error::ConfigRead { .. }
            | Error::ConfigParse { .. }
            | Error::Setting { .. }
            | Error::NoOutputFolder { .. }
            | Error::AmbiguousOutputFolder { .. }
            | Error::StateInsideSite { .. }
            | Error::ConfigExists { .. }
            | Error::WriteFile { .. }
            | Error::PlanRead { .. }
            | Error::PlanCorrupt { .. }
            | Error::PlanStale { .. } => Exit::Usage,
            Error::MissingSite { .. } | Error::SiteRead { .. } => Exit::Site,
            Error::Locked { .. } => Exit::Locked,
            // What changed is still unrecorded: the next run finds it again.
            Error::Stopped => Exit::PurgeFailed,
            Error::Api { failure, .. } => match failure.kind {
                crate::provider::FailureKind::Transient => Exit::PurgeFailed,
                _ => Exit::Usage,
            },
            Error::StateCorrupt { .. }
            | Error::LockIsLink { .. }
            | Error::StateTooNew { .. }
            | Error::StateRead { .. }
            | Error::StateWrite { .. }
            | Error::StateUrl { .. } => Exit::State,
        }
    }

    /// What the user can do about it, printed on its own line after the error.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Setting { hint, .. } => hint.clone(),
            Error::LockIsLink { .. } => Some(
                "sitepurge creates this file itself: remove the link (and find out who made it)"
                    .into(),
            ),
            Error::ConfigExists { .. } => Some(
                "edit it, or pass --force to replace it with a new one".into(),
            ),
            Error::Api { failure, .. } => failure.hint.clone(),
            Error::NoOutputFolder { .. } | Error::AmbiguousOutputFolder { .. } => Some(
                "name it on the command line (`sitepurge run public`), or set `dir = \"public\"` in sitepurge.toml".into(),
            ),
            Error::MissingSite { .. } => {
                Some("build the site first, or point sitepurge at the folder the generator writes".into())
            }
                        Error::StateCorrupt { .. } => Some(
                "delete it to start over (the next run is a first run and purges everything); or, if \
                 the cache is known to be fresh, run `sitepurge baseline` to record the site as it is \
                 (changes since the last good state are then never purged)"
                    .into(),
            ),
            Error::StateTooNew { .. } => Some(
                "upgrade sitepurge, or run `sitepurge baseline` to record the site again in this version's format"
                    .into(),
            ),
            Error::Locked { .. } => Some(
                                "wait for it to finish; a `sitepurge watch` runs until stopped, and purges the next change itself"
                    .into(),
            ),
            Error::PlanStale { .. } => Some(
                "make a new plan (`sitepurge plan --out FILE`) from the site and state as they are now, and apply that one"
                    .into(),
            ),
            Error::PlanCorrupt { .. } | Error::PlanRead { .. } => Some(
                "apply the file `sitepurge plan --out FILE` wrote, with the same sitepurge version".into(),
            ),
            Error::StateUrl { .. } => Some(
                "check that the last deploy published it (publish_manifest = true), or set on_state_error = \"everything\" to purge everything when it cannot be read"
                    .into(),
            ),
            Error::StateInsideSite { .. } => Some(
                "generators wipe their output folder; keep the state outside it (`--state` or `state = ...`)"
                    .into(),
            ),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_documented_numbers() {
        assert_eq!(Exit::Ok.code(), 0);
        assert_eq!(Exit::PurgeFailed.code(), 1);
        assert_eq!(Exit::Usage.code(), 2);
        assert_eq!(Exit::State.code(), 3);
        assert_eq!(Exit::Site.code(), 4);
        assert_eq!(Exit::Locked.code(), 5);
    }

    #[test]
    fn errors_map_to_their_exit_codes() {
        let corrupt = Error::StateCorrupt {
            path: "s.json".into(),
            message: "x".into(),
        };
        assert_eq!(corrupt.exit(), Exit::State);
        assert!(
            corrupt
                .hint()
                .unwrap_or_default()
                .contains("sitepurge baseline")
        );
        let missing = Error::MissingSite {
            path: "_site".into(),
        };
        assert_eq!(missing.exit(), Exit::Site);
        let setting = Error::Setting {
            setting: "threshold",
            message: "x".into(),
            hint: None,
        };
        assert_eq!(setting.exit(), Exit::Usage);
    }
}

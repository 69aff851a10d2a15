//! Finds the outside programs the integration tests drive (real generators, real caches, linters)
//! and, for each one that is missing, sets a `missing_*` cfg so the tests that need it are marked
//! ignored with a one-line reason that `cargo test` prints:
//!
//! ```text
//! test hugo_rebuild_purges_nothing ... ignored, needs hugo: apt-get install hugo (or run tests/run-all.sh)
//! ```
//!
//! With `CI` set (every CI service sets it) nothing is marked: a missing program fails its tests,
//! so a CI run can never pass by skipping them. `tests/run-all.sh` installs everything.
//!
//! Nothing here affects the sitepurge binary: the cfgs are only read by `#[cfg_attr(..., ignore)]`
//! in `tests/`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One thing the tests need: the cfg set when it is missing, and how to tell.
struct Need {
    cfg: &'static str,
    what: &'static str,
    present: fn(&Finder) -> bool,
}

const NEEDS: &[Need] = &[
    Need {
        cfg: "missing_hugo",
        what: "hugo",
        present: |f| f.program("hugo"),
    },
    Need {
        cfg: "missing_jekyll",
        what: "jekyll with jekyll-feed, jekyll-sitemap, jekyll-seo-tag, jekyll-paginate and minima",
        present: |f| {
            f.program("jekyll")
                && f.succeeds(
                    "ruby",
                    &[
                        "-e",
                        "%w[jekyll-feed jekyll-sitemap jekyll-seo-tag jekyll-paginate minima].each { |g| gem g }",
                    ],
                )
        },
    },
    Need {
        cfg: "missing_ruby",
        what: "ruby",
        present: |f| f.program("ruby"),
    },
    Need {
        cfg: "missing_varnish",
        what: "varnishd and a C compiler",
        present: |f| {
            (f.program("varnishd") || f.program_at("/usr/sbin/varnishd")) && f.program("cc")
        },
    },
    Need {
        cfg: "missing_git",
        what: "git",
        present: |f| f.program("git"),
    },
    Need {
        cfg: "missing_rsync",
        what: "rsync",
        present: |f| f.program("rsync"),
    },
    Need {
        cfg: "missing_shellcheck",
        what: "shellcheck",
        present: |f| f.program("shellcheck"),
    },
    Need {
        cfg: "missing_setpriv",
        what: "setpriv",
        present: |f| f.program("setpriv"),
    },
    Need {
        cfg: "missing_systemd_analyze",
        what: "systemd-analyze",
        present: |f| f.program("systemd-analyze"),
    },
    Need {
        cfg: "missing_nginx",
        what: "nginx with the cache purge module",
        present: |f| {
            (f.program("nginx") || f.program_at("/usr/sbin/nginx"))
                && f.program_at("/usr/lib/nginx/modules/ngx_http_cache_purge_module.so")
        },
    },
    Need {
        cfg: "missing_squid",
        what: "squid",
        present: |f| f.program("squid") || f.program_at("/usr/sbin/squid"),
    },
    Need {
        cfg: "missing_actionlint",
        what: "actionlint",
        present: |f| f.actionlint().is_some(),
    },
    Need {
        cfg: "missing_mkdocs",
        what: "mkdocs with mkdocs-material (tests/run-all.sh installs them into .test-tools/)",
        present: |f| f.test_tool("bin/mkdocs"),
    },
    Need {
        cfg: "missing_sphinx",
        what: "sphinx-build (tests/run-all.sh installs it into .test-tools/)",
        present: |f| f.test_tool("bin/sphinx-build"),
    },
    Need {
        cfg: "missing_pelican",
        what: "pelican (tests/run-all.sh installs it into .test-tools/pelican/)",
        present: |f| f.test_tool("pelican/bin/pelican"),
    },
    Need {
        cfg: "missing_moto",
        what: "moto[server] in .test-tools/ (tests/run-all.sh installs it)",
        present: |f| f.python_imports("moto.server, boto3, flask"),
    },
    Need {
        cfg: "missing_edgegrid",
        what: "edgegrid-python in .test-tools/ (tests/run-all.sh installs it)",
        present: |f| f.python_imports("akamai.edgegrid, requests"),
    },
    Need {
        cfg: "missing_archive_tools",
        what: "curl, tar, zip, unzip and sha256sum",
        present: |f| {
            ["curl", "tar", "zip", "unzip", "sha256sum"]
                .iter()
                .all(|p| f.program(p))
        },
    },
    Need {
        cfg: "missing_eleventy",
        what: "node and Eleventy",
        present: |f| f.node_package("eleventy"),
    },
    Need {
        cfg: "missing_astro",
        what: "node and Astro",
        present: |f| f.node_package("astro"),
    },
    Need {
        cfg: "missing_docusaurus",
        what: "node and Docusaurus",
        present: |f| f.node_package("docusaurus"),
    },
    Need {
        cfg: "missing_vitepress",
        what: "node and VitePress",
        present: |f| f.node_package("vitepress"),
    },
    Need {
        cfg: "missing_hexo",
        what: "node and Hexo",
        present: |f| f.node_package("hexo"),
    },
    Need {
        cfg: "missing_chattr",
        what: "chattr",
        present: |f| f.program("chattr"),
    },
    Need {
        cfg: "missing_man",
        what: "man and groff",
        present: |f| f.program("man") && f.program("groff"),
    },
];

struct Finder {
    path: Vec<PathBuf>,
    manifest_dir: PathBuf,
}

impl Finder {
    fn program(&self, name: &str) -> bool {
        self.path.iter().any(|dir| dir.join(name).is_file())
    }

    /// actionlint from PATH, else from the virtual environment tests/run-all.sh makes.
    fn actionlint(&self) -> Option<PathBuf> {
        let local = Path::new(&self.manifest_dir).join(".test-tools/bin/actionlint");
        self.path
            .iter()
            .map(|dir| dir.join("actionlint"))
            .chain([local])
            .find(|p| p.is_file())
    }

    /// A program tests/run-all.sh installs from PyPI into .test-tools/, where the tests run it
    /// from (a `mkdocs` on PATH may be another version, with other output): `path` is relative
    /// to .test-tools/ (pelican has a virtual environment of its own, .test-tools/pelican/).
    fn test_tool(&self, path: &str) -> bool {
        self.manifest_dir.join(".test-tools").join(path).is_file()
    }

    /// A generator's command from the npm packages tests/run-all.sh installs (`npm ci` from
    /// tests/fixtures/node/package-lock.json into .test-tools/node/), and node to run it.
    fn node_package(&self, command: &str) -> bool {
        self.program("node")
            && self
                .manifest_dir
                .join(".test-tools/node/node_modules/.bin")
                .join(command)
                .is_file()
    }

    /// The Python of the virtual environment tests/run-all.sh makes, where the stand-ins'
    /// packages (moto, edgegrid-python) are installed.
    fn python(&self) -> PathBuf {
        self.manifest_dir.join(".test-tools/bin/python")
    }

    /// Whether that Python can import `modules` (`a, b.c`).
    fn python_imports(&self, modules: &str) -> bool {
        let python = self.python();
        python.is_file()
            && python
                .to_str()
                .is_some_and(|p| self.succeeds(p, &["-c", &format!("import {modules}")]))
    }

    fn program_at(&self, path: &str) -> bool {
        Path::new(path).is_file()
    }

    fn succeeds(&self, program: &str, args: &[&str]) -> bool {
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CI");
    println!("cargo:rerun-if-env-changed=PATH");
    let mut path: Vec<PathBuf> = Vec::new();
    for dir in env::split_paths(&env::var_os("PATH").unwrap_or_default()) {
        if !path.contains(&dir) {
            path.push(dir);
        }
    }
    // Installing a program changes its folder (and, through apt, dpkg's status file): look again
    // then. A path that does not exist would make cargo rerun this every build, so only
    // existing ones are named.
    for dir in &path {
        if dir.is_dir() {
            println!("cargo:rerun-if-changed={}", dir.display());
        }
    }
    if Path::new("/var/lib/dpkg/status").is_file() {
        println!("cargo:rerun-if-changed=/var/lib/dpkg/status");
    }
    let ci = env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    for tools in [
        ".test-tools/bin",
        ".test-tools/pelican/bin",
        ".test-tools/node/node_modules/.bin",
    ] {
        let tools = manifest_dir.join(tools);
        if tools.is_dir() {
            println!("cargo:rerun-if-changed={}", tools.display());
        }
    }
    let finder = Finder { path, manifest_dir };
    // The tests run actionlint from where it was found here.
    if let Some(actionlint) = finder.actionlint() {
        println!(
            "cargo:rustc-env=SITEPURGE_TEST_ACTIONLINT={}",
            actionlint.display()
        );
    }
    // The tests run the stand-ins written in Python with this interpreter.
    println!(
        "cargo:rustc-env=SITEPURGE_TEST_PYTHON={}",
        finder.python().display()
    );
    let mut missing = Vec::new();
    for need in NEEDS {
        println!("cargo::rustc-check-cfg=cfg({})", need.cfg);
        if !(need.present)(&finder) {
            missing.push(need.what);
            if !ci {
                println!("cargo:rustc-cfg={}", need.cfg);
            }
        }
    }
    if ci && !missing.is_empty() {
        println!(
            "cargo:warning=CI is set, so tests that need a missing program will fail, not be skipped. Missing: {}. Install them with tests/run-all.sh.",
            missing.join("; ")
        );
    }
}

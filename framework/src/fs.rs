//! Serving files from a directory without ever leaving it.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Component, Path, PathBuf};

/// A directory files are served from: [`open`](Self::open) never yields a
/// file outside it — not through `..`, an absolute path, or a symlink that
/// points out (on Linux ≥ 5.6 the kernel enforces it with `openat2`'s
/// `RESOLVE_BENEATH`, in one system call; before, the path is resolved and
/// checked against the directory).
#[derive(Debug)]
pub struct Root {
    path: PathBuf,
    dir: File,
}

impl Root {
    /// Opens the directory at `path`.
    pub fn new(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = std::fs::canonicalize(path.as_ref())?;
        let dir = File::open(&path)?;
        if !dir.metadata()?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", path.display()),
            ));
        }
        Ok(Self { path, dir })
    }

    /// The directory's canonical path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `relative` (a path inside the directory) for reading. Fails
    /// with `PermissionDenied` for any path that is absolute, climbs with
    /// `..` or resolves outside the directory; `NotFound` for a missing
    /// file. The caller checks what it opened (a directory opens too).
    pub fn open(&self, relative: &Path) -> io::Result<File> {
        if relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(outside());
        }
        match crate::sys::open_beneath(self.dir.as_raw_fd(), relative) {
            Ok(f) => Ok(f),
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => Err(outside()),
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => self.open_checked(relative),
            Err(e) => Err(e),
        }
    }

    /// Without `openat2`: resolve, check, open.
    fn open_checked(&self, relative: &Path) -> io::Result<File> {
        let full = std::fs::canonicalize(self.path.join(relative))?;
        if !full.starts_with(&self.path) {
            return Err(outside());
        }
        File::open(full)
    }
}

fn outside() -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        "the path leads outside the served directory",
    )
}

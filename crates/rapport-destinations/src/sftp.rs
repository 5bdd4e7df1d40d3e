//! SFTP file targets: the files of an export, uploaded to an SSH server.
//!
//! A file destination with an `sftp` block writes its files exactly as a local one would (same formats, naming,
//! folder macros and split), into a private staging folder on this machine, then uploads each one to the
//! server's folder (created when missing) under the hidden temporary name `.<name>.tmp`, asks the server to
//! sync it (`fsync@openssh.com`, when offered) and renames it into place. The rename replaces an existing file:
//! `posix-rename@openssh.com` when the server offers it (OpenSSH does; atomic), otherwise SFTP v3's rename, which
//! refuses an existing target, after removing that target. A reader of the folder sees whole files or none.
//!
//! **Host keys.** The server's host key must match the configured fingerprint (`SHA256:…`, as `ssh-keygen -lf`
//! and OpenSSH print it); a mismatch stops before signing in, and the error names the key the server offered.
//!
//! **Sign-in.** A password, or an OpenSSH private key (its text, optionally with a passphrase).
//!
//! **Failures.** A dropped connection, a timeout or a lost session is retried: the session is opened again after
//! an exponential backoff with jitter and the files not yet in place are uploaded again (a file is only ever
//! visible under its final name once complete). A refused host key, a refused sign-in or a refused operation
//! (permission denied, no such folder that can be created) stops at once.
//!
//! The SSH stack is `russh` with `russh-sftp`, asynchronous on tokio; each upload runs a single-threaded runtime
//! on a thread of its own, so callers stay synchronous (and may be inside another runtime).

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::client::RawSftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags, Packet, StatusCode};
use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::http::RetryPolicy;
use crate::{Error, Result};

/// The SSH port.
pub const DEFAULT_PORT: u16 = 22;

/// Bytes per write request: 32 KiB, the size every SFTP server accepts (OpenSSH's own client uses it).
const CHUNK: usize = 32 * 1024;

/// Write requests awaiting the server's answer at once (OpenSSH's client keeps 64 in flight).
const IN_FLIGHT: usize = 64;

/// The SFTP extension that renames over an existing file atomically.
const POSIX_RENAME: &str = "posix-rename@openssh.com";

/// The SFTP extension that syncs an open file to disk.
const FSYNC: &str = "fsync@openssh.com";

/// Where and how to sign in to an SFTP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftpConfig {
    /// The server's host name or address.
    pub host: String,
    /// Its SSH port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The user to sign in as.
    pub username: String,
    /// The password (password sign-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// An OpenSSH private key, its whole text (key sign-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<Secret>,
    /// The private key's passphrase, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<Secret>,
    /// The server's host key fingerprint, `SHA256:<base64>` as `ssh-keygen -lf` prints it.
    pub host_key: String,
    /// Seconds to wait for the connection and for each answer of the server.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Times a dropped or timed-out session is opened again before the export fails.
    #[serde(default = "default_retries")]
    pub retries: u32,
}

fn default_port() -> u16 {
    DEFAULT_PORT
}

fn default_timeout() -> u64 {
    30
}

fn default_retries() -> u32 {
    3
}

impl SftpConfig {
    /// Checks the settings (the private key is parsed here, so a bad one is refused at creation).
    pub fn validate(&self) -> Result<()> {
        let bad = |message: String| Err(Error::Options(format!("sftp: {message}")));
        if self.host.trim().is_empty() || self.host.chars().any(char::is_whitespace) {
            return bad(format!("`host` must be a host name or address, got `{}`", self.host));
        }
        if self.username.is_empty() {
            return bad("`username` is empty".to_owned());
        }
        match (&self.password, &self.private_key) {
            (Some(_), Some(_)) => return bad("set `password` or `private_key`, not both".to_owned()),
            (None, None) => return bad("sign-in needs `password` or `private_key`".to_owned()),
            (Some(_), None) if self.passphrase.is_some() => {
                return bad("`passphrase` goes with `private_key`".to_owned())
            }
            _ => {}
        }
        if let Some(key) = &self.private_key {
            // The error names what is wrong with the key, never the key.
            if let Err(e) = russh::keys::decode_secret_key(key.expose(), self.passphrase.as_ref().map(Secret::expose)) {
                return bad(format!("`private_key` cannot be read: {e}"));
            }
        }
        let body = self.host_key.strip_prefix("SHA256:").unwrap_or("");
        let base64 = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/';
        if body.trim_end_matches('=').len() != 43 || !body.trim_end_matches('=').chars().all(base64) {
            return bad(format!(
                "`host_key` must be a SHA-256 fingerprint such as `SHA256:` followed by 43 base64 characters \
                 (`ssh-keygen -lf` prints it), got `{}`",
                self.host_key
            ));
        }
        if self.timeout_secs == 0 {
            return bad("`timeout_secs` must be at least 1".to_owned());
        }
        Ok(())
    }

    /// `user@host:port`, for messages.
    pub fn endpoint(&self) -> String {
        format!("{}@{}:{}", self.username, self.host, self.port)
    }

    /// A copy whose secrets read `***`.
    pub fn redacted(&self) -> Self {
        let mask = |s: &Option<Secret>| s.as_ref().map(|_| Secret::new("***"));
        Self {
            password: mask(&self.password),
            private_key: mask(&self.private_key),
            passphrase: mask(&self.passphrase),
            ..self.clone()
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

/// A file written locally, to be uploaded as `name`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Upload<'a> {
    /// The local file.
    pub local: &'a Path,
    /// Its name in the remote folder.
    pub name: &'a str,
}

/// The path of `name` in the remote `folder`.
pub(crate) fn remote_path(folder: &str, name: &str) -> String {
    if folder.is_empty() {
        name.to_owned()
    } else if folder.ends_with('/') {
        format!("{folder}{name}")
    } else {
        format!("{folder}/{name}")
    }
}

/// Uploads `files` into `folder` on the server (created when missing), each under a temporary name and then
/// renamed into place; retries dropped sessions (see the module docs). Blocks until done.
pub(crate) fn upload(config: &SftpConfig, folder: &str, files: &[Upload<'_>]) -> Result<()> {
    let mut done = vec![false; files.len()];
    let mut attempt = 0;
    loop {
        let pending = &mut done;
        let outcome = run_blocking(config, move |config| async move {
            let session = Session::open(config).await?;
            session.guarded(session.ensure_folder(folder)).await?;
            for (file, done) in files.iter().zip(pending.iter_mut()) {
                if !*done {
                    session.guarded(session.put(file.local, &remote_path(folder, file.name))).await?;
                    *done = true;
                }
            }
            session.close().await;
            Ok(())
        });
        match outcome {
            Ok(()) => return Ok(()),
            Err(failure) if failure.transient && attempt < config.retries => {
                attempt += 1;
                let delay = backoff(attempt);
                tracing::warn!(
                    endpoint = %config.endpoint(),
                    attempt,
                    delay_ms = delay.as_millis() as u64,
                    "sftp upload failed, retrying: {}",
                    failure.message
                );
                std::thread::sleep(delay);
            }
            Err(failure) => return Err(failure.into_error(config, attempt)),
        }
    }
}

/// Signs in and checks the folder (its nearest existing ancestor when it does not exist yet) can be written,
/// by creating and removing a hidden probe file. Returns what it found.
pub fn check(config: &SftpConfig, folder: &str) -> Result<String> {
    config.validate()?;
    run_blocking(config, move |config| async move {
        let session = Session::open(config).await?;
        let mut base = folder.trim_end_matches('/').to_owned();
        let mut missing = false;
        while !base.is_empty() && !session.guarded(session.is_dir(&base)).await? {
            missing = true;
            base = match base.rfind('/') {
                Some(0) => "/".to_owned(),
                Some(i) => base[..i].to_owned(),
                None => String::new(),
            };
        }
        let probe = remote_path(&base, &format!(".rapport-test-{}.tmp", std::process::id()));
        let handle = session.open_for_writing(&probe).await?;
        session.sftp.close(handle).await.map_err(|e| Failure::of("close", &probe, e))?;
        session.sftp.remove(probe.clone()).await.map_err(|e| Failure::of("remove", &probe, e))?;
        session.close().await;
        let shown = if base.is_empty() { "the login folder".to_owned() } else { format!("folder {base}") };
        Ok(format!(
            "sftp: signed in to {} (host key {}); {shown} is writable{}",
            config.endpoint(),
            config.host_key,
            if missing { format!(" ({folder} will be created by the first export)") } else { String::new() }
        ))
    })
    .map_err(|failure| failure.into_error(config, 0))
}

/// Exponential backoff with jitter, as the HTTP destinations wait ([`RetryPolicy::delay`] by default: about
/// 0.5 s, 1 s, 2 s, … capped at 30 s, each between half and all of it).
fn backoff(attempt: u32) -> Duration {
    RetryPolicy::default().delay(attempt, None)
}

/// Runs `work` on a single-threaded tokio runtime on a thread of its own.
fn run_blocking<'c, T, F, Fut>(config: &'c SftpConfig, work: F) -> Result<T, Failure>
where
    T: Send,
    F: FnOnce(&'c SftpConfig) -> Fut + Send,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new().name("rapport-sftp".to_owned());
        let handle = thread
            .spawn_scoped(scope, move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| Failure::permanent(format!("cannot start the SFTP runtime: {e}")))?;
                runtime.block_on(work(config))
            })
            .map_err(|e| Failure::permanent(format!("cannot start the SFTP thread: {e}")))?;
        handle.join().unwrap_or_else(|_| Err(Failure::permanent("the SFTP thread panicked".to_owned())))
    })
}

/// Why a session failed, and whether opening it again may help.
#[derive(Debug)]
struct Failure {
    message: String,
    transient: bool,
}

impl Failure {
    fn permanent(message: String) -> Self {
        Self { message, transient: false }
    }

    fn transient(message: String) -> Self {
        Self { message, transient: true }
    }

    /// An SFTP request on `path` failed: lost connections and timeouts are transient, refusals are not.
    fn of(operation: &str, path: &str, error: SftpError) -> Self {
        let transient = match &error {
            SftpError::Status(status) => {
                matches!(status.status_code, StatusCode::ConnectionLost | StatusCode::NoConnection)
            }
            SftpError::IO(_) | SftpError::Timeout | SftpError::UnexpectedBehavior(_) => true,
            SftpError::Limited(_) | SftpError::UnexpectedPacket => false,
        };
        Self { message: format!("{operation} {path}: {error}"), transient }
    }

    fn into_error(self, config: &SftpConfig, retries: u32) -> Error {
        let tries = if retries > 0 { format!(" (after {retries} retries)") } else { String::new() };
        Error::Remote { service: "sftp", message: format!("{}: {}{tries}", config.endpoint(), self.message) }
    }
}

/// Accepts the server only when its host key has the configured fingerprint; remembers the one offered.
struct HostKeyCheck {
    expected: String,
    offered: Arc<Mutex<Option<String>>>,
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let fingerprint = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.fingerprint(HashAlg::Sha256),
            PublicKeyOrCertificate::Certificate(cert) => cert.public_key().fingerprint(HashAlg::Sha256),
        }
        .to_string();
        let matches = fingerprint.trim_end_matches('=') == self.expected.trim_end_matches('=');
        if let Ok(mut offered) = self.offered.lock() {
            *offered = Some(fingerprint);
        }
        Ok(matches)
    }
}

/// What the server's SFTP offers.
struct Extensions {
    posix_rename: bool,
    fsync: bool,
}

/// A signed-in SSH connection with its SFTP channel.
struct Session {
    ssh: client::Handle<HostKeyCheck>,
    sftp: Arc<RawSftpSession>,
    extensions: Extensions,
}

impl Session {
    async fn open(config: &SftpConfig) -> Result<Self, Failure> {
        let timeout = config.timeout();
        let ssh_config = client::Config { inactivity_timeout: Some(timeout), ..client::Config::default() };
        let offered = Arc::new(Mutex::new(None));
        let checker = HostKeyCheck { expected: config.host_key.clone(), offered: offered.clone() };
        let connect = client::connect(Arc::new(ssh_config), (config.host.as_str(), config.port), checker);
        let mut ssh = match tokio::time::timeout(timeout, connect).await {
            Err(_) => return Err(Failure::transient(format!("no SSH session within {} s", config.timeout_secs))),
            Ok(Err(russh::Error::UnknownKey)) => {
                let offered = offered.lock().ok().and_then(|o| o.clone()).unwrap_or_else(|| "none".to_owned());
                return Err(Failure::permanent(format!(
                    "the server's host key is {offered}, not the configured `host_key` {}; nothing was sent",
                    config.host_key
                )));
            }
            Ok(Err(e)) => return Err(Failure::transient(format!("cannot connect: {e}"))),
            Ok(Ok(ssh)) => ssh,
        };
        let signed_in = tokio::time::timeout(timeout, sign_in(&mut ssh, config))
            .await
            .map_err(|_| Failure::transient(format!("no answer to the sign-in within {} s", config.timeout_secs)))??;
        if !signed_in {
            let method = if config.password.is_some() { "password" } else { "private key" };
            return Err(Failure::permanent(format!("the server refused the {method} of `{}`", config.username)));
        }
        let sftp = tokio::time::timeout(timeout, async {
            let channel = ssh.channel_open_session().await?;
            channel.request_subsystem(true, "sftp").await?;
            Ok::<_, russh::Error>(channel)
        })
        .await
        .map_err(|_| Failure::transient(format!("no SFTP channel within {} s", config.timeout_secs)))?
        .map_err(|e| Failure::transient(format!("cannot open the SFTP channel: {e}")))?;
        let sftp = RawSftpSession::new(sftp.into_stream());
        sftp.set_timeout(config.timeout_secs);
        let version = sftp.init().await.map_err(|e| Failure::of("start SFTP", "", e))?;
        let extensions = Extensions {
            posix_rename: version.extensions.contains_key(POSIX_RENAME),
            fsync: version.extensions.contains_key(FSYNC),
        };
        tracing::debug!(
            endpoint = %config.endpoint(),
            version = version.version,
            posix_rename = extensions.posix_rename,
            fsync = extensions.fsync,
            "sftp session open"
        );
        Ok(Self { ssh, sftp: Arc::new(sftp), extensions })
    }

    /// Runs `work` unless the connection closes first. (An SFTP request whose connection dropped would otherwise
    /// wait for its timeout: the SFTP client does not fail requests in flight when its channel ends.)
    async fn guarded<T>(&self, work: impl std::future::Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
        let closed = async {
            while !self.ssh.is_closed() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::select! {
            result = work => result,
            () = closed => Err(Failure::transient("the connection closed".to_owned())),
        }
    }

    async fn close(self) {
        let _ = self.sftp.close_session();
        let _ = self.ssh.disconnect(russh::Disconnect::ByApplication, "", "en").await;
    }

    /// True when `path` is a folder; false when nothing is there.
    async fn is_dir(&self, path: &str) -> Result<bool, Failure> {
        match self.sftp.stat(path.to_owned()).await {
            Ok(attrs) => {
                if attrs.attrs.file_type().is_dir() {
                    Ok(true)
                } else {
                    Err(Failure::permanent(format!("{path} exists and is not a folder")))
                }
            }
            Err(SftpError::Status(status)) if status.status_code == StatusCode::NoSuchFile => Ok(false),
            Err(e) => Err(Failure::of("stat", path, e)),
        }
    }

    /// Creates `folder` and its missing parents.
    async fn ensure_folder(&self, folder: &str) -> Result<(), Failure> {
        let mut path = if folder.starts_with('/') { "/".to_owned() } else { String::new() };
        for part in folder.split('/').filter(|p| !p.is_empty() && *p != ".") {
            path = remote_path(&path, part);
            if !self.is_dir(&path).await? {
                if let Err(e) = self.sftp.mkdir(path.clone(), FileAttributes::empty()).await {
                    // Another client may have created it meanwhile.
                    if !self.is_dir(&path).await? {
                        return Err(Failure::of("create folder", &path, e));
                    }
                }
            }
        }
        Ok(())
    }

    async fn open_for_writing(&self, path: &str) -> Result<String, Failure> {
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
        let handle = self
            .sftp
            .open(path.to_owned(), flags, FileAttributes::empty())
            .await
            .map_err(|e| Failure::of("open", path, e))?;
        Ok(handle.handle)
    }

    /// Uploads `local` as `target`: written under the hidden temporary name, synced, closed and renamed. When the
    /// server refuses a step (not when the connection is lost), the temporary file is removed.
    async fn put(&self, local: &Path, target: &str) -> Result<(), Failure> {
        let (folder, name) =
            target.rsplit_once('/').map_or(("", target), |(f, n)| (if f.is_empty() { "/" } else { f }, n));
        let temp = remote_path(folder, &format!(".{name}.tmp"));
        let handle = self.open_for_writing(&temp).await?;
        let result = self.write_file(local, &temp, &handle).await;
        let result = match result {
            Ok(()) => self.rename(&temp, target).await,
            Err(failure) => {
                let _ = self.sftp.close(handle).await;
                Err(failure)
            }
        };
        if let Err(failure) = &result {
            if !failure.transient {
                let _ = self.sftp.remove(temp).await;
            }
        }
        result
    }

    /// Writes the bytes of `local` through the open `handle` (64 requests in flight), syncs and closes it.
    async fn write_file(&self, local: &Path, temp: &str, handle: &str) -> Result<(), Failure> {
        let mut file = File::open(local)
            .map_err(|e| Failure::permanent(format!("cannot read the staged file {}: {e}", local.display())))?;
        let mut pending = tokio::task::JoinSet::new();
        let mut offset = 0u64;
        loop {
            let mut chunk = Vec::with_capacity(CHUNK);
            let n = (&mut file)
                .take(CHUNK as u64)
                .read_to_end(&mut chunk)
                .map_err(|e| Failure::permanent(format!("cannot read the staged file {}: {e}", local.display())))?;
            if n == 0 {
                break;
            }
            if pending.len() >= IN_FLIGHT {
                wrote(pending.join_next().await, temp)?;
            }
            let (sftp, handle, at) = (self.sftp.clone(), handle.to_owned(), offset);
            pending.spawn(async move { sftp.write(handle, at, chunk).await });
            offset += n as u64;
        }
        while let Some(result) = pending.join_next().await {
            wrote(Some(result), temp)?;
        }
        if self.extensions.fsync {
            self.sftp.fsync(handle.to_owned()).await.map_err(|e| Failure::of("sync", temp, e))?;
        }
        self.sftp.close(handle.to_owned()).await.map_err(|e| Failure::of("close", temp, e))?;
        Ok(())
    }

    /// Renames `from` to `to`, replacing `to` when it exists.
    async fn rename(&self, from: &str, to: &str) -> Result<(), Failure> {
        if self.extensions.posix_rename {
            let mut data = Vec::with_capacity(8 + from.len() + to.len());
            for text in [from, to] {
                data.extend_from_slice(&(text.len() as u32).to_be_bytes());
                data.extend_from_slice(text.as_bytes());
            }
            return match self.sftp.extended(POSIX_RENAME, data).await {
                Ok(Packet::Status(status)) if status.status_code == StatusCode::Ok => Ok(()),
                Ok(Packet::Status(status)) => Err(Failure::of("rename", from, SftpError::Status(status))),
                Ok(_) => Err(Failure::of("rename", from, SftpError::UnexpectedPacket)),
                Err(e) => Err(Failure::of("rename", from, e)),
            };
        }
        // SFTP v3's rename refuses an existing target: remove it first (a reader may then briefly find no file,
        // never a partial one).
        if self.sftp.rename(from.to_owned(), to.to_owned()).await.is_ok() {
            return Ok(());
        }
        match self.sftp.remove(to.to_owned()).await {
            Ok(_) => {}
            Err(SftpError::Status(status)) if status.status_code == StatusCode::NoSuchFile => {}
            Err(e) => return Err(Failure::of("remove", to, e)),
        }
        self.sftp.rename(from.to_owned(), to.to_owned()).await.map(|_| ()).map_err(|e| Failure::of("rename", from, e))
    }
}

/// Checks a finished write request.
fn wrote(
    result: Option<
        std::result::Result<std::result::Result<russh_sftp::protocol::Status, SftpError>, tokio::task::JoinError>,
    >,
    path: &str,
) -> Result<(), Failure> {
    match result {
        None | Some(Ok(Ok(_))) => Ok(()),
        Some(Ok(Err(e))) => Err(Failure::of("write", path, e)),
        Some(Err(e)) => Err(Failure::transient(format!("write {path}: {e}"))),
    }
}

/// Signs in with the password or the private key; false when the server refuses.
async fn sign_in(ssh: &mut client::Handle<HostKeyCheck>, config: &SftpConfig) -> Result<bool, Failure> {
    let refused = |e: russh::Error| Failure::transient(format!("sign-in failed: {e}"));
    let result = if let Some(password) = &config.password {
        ssh.authenticate_password(config.username.clone(), password.expose()).await.map_err(refused)?
    } else {
        let text = config.private_key.as_ref().map(Secret::expose).unwrap_or_default();
        let key = russh::keys::decode_secret_key(text, config.passphrase.as_ref().map(Secret::expose))
            .map_err(|e| Failure::permanent(format!("`private_key` cannot be read: {e}")))?;
        let hash = ssh.best_supported_rsa_hash().await.map_err(refused)?.flatten();
        ssh.authenticate_publickey(config.username.clone(), PrivateKeyWithHashAlg::new(Arc::new(key), hash))
            .await
            .map_err(refused)?
    };
    Ok(result.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SftpConfig {
        serde_json::from_str(
            r#"{"host":"sftp.example.com","username":"bodea","password":"pw",
                "host_key":"SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"}"#,
        )
        .unwrap()
    }

    #[test]
    fn settings_are_checked_and_named() {
        let ok = config();
        ok.validate().unwrap();
        assert_eq!((ok.port, ok.timeout_secs, ok.retries), (22, 30, 3));
        assert_eq!(ok.endpoint(), "bodea@sftp.example.com:22");
        let err = |c: SftpConfig| c.validate().unwrap_err().to_string();
        assert!(err(SftpConfig { password: None, ..config() }).contains("needs `password` or `private_key`"));
        let both = SftpConfig { private_key: Some(Secret::new("x")), ..config() };
        assert!(err(both).contains("not both"));
        let e = err(SftpConfig { host_key: "ab:cd".to_owned(), ..config() });
        assert!(e.contains("`host_key` must be a SHA-256 fingerprint") && e.contains("got `ab:cd`"), "{e}");
        let key = SftpConfig { password: None, private_key: Some(Secret::new("not a key")), ..config() };
        let e = err(key);
        assert!(e.contains("`private_key` cannot be read") && !e.contains("not a key"), "{e}");
    }

    #[test]
    fn redaction_masks_every_secret() {
        let shown = serde_json::to_string(&config().redacted()).unwrap();
        assert!(shown.contains(r#""password":"***""#) && !shown.contains("\"pw\""), "{shown}");
        assert!(!shown.contains("private_key"), "{shown}");
    }

    #[test]
    fn remote_paths_join_with_one_slash() {
        assert_eq!(remote_path("/upload", "a.csv"), "/upload/a.csv");
        assert_eq!(remote_path("/upload/", "a.csv"), "/upload/a.csv");
        assert_eq!(remote_path("/", "a.csv"), "/a.csv");
        assert_eq!(remote_path("", "a.csv"), "a.csv");
        assert_eq!(remote_path("out", "a.csv"), "out/a.csv");
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for (attempt, full) in [(1, 500), (2, 1_000), (3, 2_000), (20, 30_000)] {
            let d = backoff(attempt).as_millis() as u64;
            assert!((full / 2..=full).contains(&d), "attempt {attempt}: {d} ms");
        }
    }
}

//! An SFTP server for tests: SSH by `russh`, SFTP v3 by `russh-sftp`, serving a temporary folder on 127.0.0.1.
//!
//! It behaves as OpenSSH's `sftp-server` does for what an upload uses: `open` with write/create/truncate,
//! `write` at offsets, `close`, `stat`, `mkdir`, `remove`, and `rename`, which (SFTP v3, as OpenSSH implements
//! it with `link`) refuses an existing target; the extensions `posix-rename@openssh.com` (replaces the target)
//! and `fsync@openssh.com` are offered unless turned off. Sign-in: the password `secret` of user `bodea`, or
//! the keys in `keys/` (made with `ssh-keygen`; test keys, used nowhere else). It logs every operation, counts
//! connections, and can drop a connection after a number of write requests, to test retries.
//!
//! Absolute SFTP paths are under the served folder; relative ones too (the login folder is its root).

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::keys::PublicKey;
use russh::server::{Auth, ChannelOpenHandle, Msg, Server as _, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId};
use russh_sftp::protocol::{Attrs, FileAttributes, Handle, OpenFlags, Packet, Status, StatusCode, Version};

/// The test host key's fingerprint, as `ssh-keygen -lf keys/host_ed25519.pub` prints it.
pub const HOST_KEY_FINGERPRINT: &str = "SHA256:AN/b37X6bFaEgsgQV1aZuLoNv6oZ5pcRtWWtJrBDuJA";
/// The user with the password [`PASSWORD`].
pub const USER: &str = "bodea";
/// Its password.
pub const PASSWORD: &str = "secret";
/// The passphrase of `keys/user_rsa`.
pub const RSA_PASSPHRASE: &str = "correct horse";

/// A test key file's text.
pub fn key(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rapport-destinations/tests/support/keys").join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Offer `posix-rename@openssh.com`.
    pub posix_rename: bool,
    /// Offer `fsync@openssh.com`.
    pub fsync: bool,
    /// Drop the connection when the server has received this many write requests (counted over all
    /// connections), once.
    pub drop_after_writes: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Self { posix_rename: true, fsync: true, drop_after_writes: None }
    }
}

/// What the server has seen.
#[derive(Debug, Default)]
struct Shared {
    /// Operations in order: `open PATH`, `fsync PATH`, `close PATH`, `rename A B`, `posix-rename A B`,
    /// `remove PATH`, `mkdir PATH`, `refused-rename A B`. Writes are counted, not logged.
    log: Mutex<Vec<String>>,
    writes: AtomicUsize,
    /// The write request (counted from 1) at which the connection is dropped; 0 for none.
    drop_at: AtomicUsize,
    connections: AtomicUsize,
    sign_ins: AtomicUsize,
    dropped: AtomicUsize,
}

/// A running server; stops when dropped.
pub struct SftpServer {
    /// The served folder.
    pub root: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SftpServer {
    /// Starts a server with `options` on a free port.
    pub fn start(options: Options) -> Self {
        let root = tempfile::tempdir().unwrap();
        let shared = Arc::new(Shared::default());
        shared.drop_at.store(options.drop_after_writes.unwrap_or(0), Ordering::SeqCst);
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let host_key = russh::keys::decode_secret_key(&key("host_ed25519"), None).unwrap();
        let config = russh::server::Config {
            keys: vec![host_key],
            auth_rejection_time: Duration::from_millis(10),
            auth_rejection_time_initial: Some(Duration::ZERO),
            inactivity_timeout: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        let mut server = Server { root: root.path().to_owned(), options, shared: shared.clone() };
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                port_tx.send(listener.local_addr().unwrap().port()).unwrap();
                let running = server.run_on_socket(Arc::new(config), &listener);
                tokio::select! {
                    _ = running => {}
                    _ = stop_rx => {}
                }
            });
        });
        let port = port_rx.recv().unwrap();
        Self { root, port, shared, stop: Some(stop_tx), thread: Some(thread) }
    }

    /// The operations seen so far.
    pub fn log(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Drops the connection at the `n`th write request from now (once).
    pub fn drop_after_more_writes(&self, n: usize) {
        self.shared.drop_at.store(self.writes() + n, Ordering::SeqCst);
    }

    /// Write requests received.
    pub fn writes(&self) -> usize {
        self.shared.writes.load(Ordering::SeqCst)
    }

    /// TCP connections accepted.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Successful sign-ins.
    pub fn sign_ins(&self) -> usize {
        self.shared.sign_ins.load(Ordering::SeqCst)
    }

    /// Connections dropped on purpose.
    pub fn dropped(&self) -> usize {
        self.shared.dropped.load(Ordering::SeqCst)
    }

    /// The served path of an SFTP path.
    pub fn local(&self, path: &str) -> PathBuf {
        self.root.path().join(path.trim_start_matches('/'))
    }

    /// Names of the files in a served folder, sorted.
    pub fn files(&self, folder: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.local(folder))
            .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl Drop for SftpServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Clone)]
struct Server {
    root: PathBuf,
    options: Options,
    shared: Arc<Shared>,
}

impl russh::server::Server for Server {
    type Handler = Connection;

    fn new_client(&mut self, _: Option<std::net::SocketAddr>) -> Connection {
        self.shared.connections.fetch_add(1, Ordering::SeqCst);
        Connection { server: self.clone(), channels: HashMap::new() }
    }
}

struct Connection {
    server: Server,
    channels: HashMap<ChannelId, Channel<Msg>>,
}

fn authorized(offered: &PublicKey) -> bool {
    ["user_ed25519.pub", "user_rsa.pub"]
        .iter()
        .any(|name| PublicKey::from_openssh(&key(name)).is_ok_and(|k| k.key_data() == offered.key_data()))
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if user == USER && password == PASSWORD {
            self.server.shared.sign_ins.fetch_add(1, Ordering::SeqCst);
            Ok(Auth::Accept)
        } else {
            Ok(Auth::reject())
        }
    }

    async fn auth_publickey(&mut self, user: &str, key: VerifiedPublicKey<'_>) -> Result<Auth, Self::Error> {
        if user == USER && authorized(key.public_key) {
            self.server.shared.sign_ins.fetch_add(1, Ordering::SeqCst);
            Ok(Auth::Accept)
        } else {
            Ok(Auth::reject())
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn channel_eof(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        session.close(channel)?;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel_id: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        match (name, self.channels.remove(&channel_id)) {
            ("sftp", Some(channel)) => {
                session.channel_success(channel_id)?;
                let sftp =
                    Sftp { server: self.server.clone(), ssh: session.handle(), files: HashMap::new(), next_handle: 0 };
                russh_sftp::server::run(channel.into_stream(), sftp).await;
            }
            _ => session.channel_failure(channel_id)?,
        }
        Ok(())
    }
}

struct Sftp {
    server: Server,
    ssh: russh::server::Handle,
    files: HashMap<String, (String, File)>,
    next_handle: u64,
}

fn ok(id: u32) -> Status {
    Status { id, status_code: StatusCode::Ok, error_message: "Ok".to_owned(), language_tag: "en-US".to_owned() }
}

fn code(e: &std::io::Error) -> StatusCode {
    match e.kind() {
        std::io::ErrorKind::NotFound => StatusCode::NoSuchFile,
        std::io::ErrorKind::PermissionDenied => StatusCode::PermissionDenied,
        _ => StatusCode::Failure,
    }
}

/// The two SSH strings of a rename extension's data.
fn two_strings(data: &[u8]) -> Option<(String, String)> {
    let mut rest = data;
    let mut take = || {
        let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let text = String::from_utf8(rest.get(4..4 + len)?.to_vec()).ok()?;
        rest = &rest[4 + len..];
        Some(text)
    };
    Some((take()?, take()?))
}

impl Sftp {
    fn local(&self, path: &str) -> PathBuf {
        self.server.root.join(path.trim_start_matches('/'))
    }

    fn log(&self, entry: String) {
        self.server.shared.log.lock().unwrap().push(entry);
    }
}

impl russh_sftp::server::Handler for Sftp {
    type Error = StatusCode;

    fn unimplemented(&self) -> Self::Error {
        StatusCode::OpUnsupported
    }

    async fn init(&mut self, _version: u32, _extensions: HashMap<String, String>) -> Result<Version, Self::Error> {
        let mut version = Version::new();
        if self.server.options.posix_rename {
            version.extensions.insert("posix-rename@openssh.com".to_owned(), "1".to_owned());
        }
        if self.server.options.fsync {
            version.extensions.insert("fsync@openssh.com".to_owned(), "1".to_owned());
        }
        Ok(version)
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        _attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        let file = OpenOptions::new()
            .read(pflags.contains(OpenFlags::READ))
            .write(pflags.contains(OpenFlags::WRITE))
            .create(pflags.contains(OpenFlags::CREATE))
            .truncate(pflags.contains(OpenFlags::TRUNCATE))
            .open(self.local(&filename))
            .map_err(|e| code(&e))?;
        self.log(format!("open {filename}"));
        self.next_handle += 1;
        let handle = self.next_handle.to_string();
        self.files.insert(handle.clone(), (filename, file));
        Ok(Handle { id, handle })
    }

    async fn write(&mut self, id: u32, handle: String, offset: u64, data: Vec<u8>) -> Result<Status, Self::Error> {
        let seen = self.server.shared.writes.fetch_add(1, Ordering::SeqCst) + 1;
        let shared = &self.server.shared;
        if shared.drop_at.compare_exchange(seen, 0, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            shared.dropped.fetch_add(1, Ordering::SeqCst);
            self.log("drop".to_owned());
            let _ =
                self.ssh.disconnect(russh::Disconnect::ByApplication, "test drop".to_owned(), "en".to_owned()).await;
            return Err(StatusCode::ConnectionLost);
        }
        let (_, file) = self.files.get_mut(&handle).ok_or(StatusCode::Failure)?;
        file.seek(SeekFrom::Start(offset)).and_then(|_| file.write_all(&data)).map_err(|e| code(&e))?;
        Ok(ok(id))
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        let (path, _) = self.files.remove(&handle).ok_or(StatusCode::Failure)?;
        self.log(format!("close {path}"));
        Ok(ok(id))
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let meta = fs::metadata(self.local(&path)).map_err(|e| code(&e))?;
        Ok(Attrs { id, attrs: FileAttributes::from(&meta) })
    }

    async fn mkdir(&mut self, id: u32, path: String, _attrs: FileAttributes) -> Result<Status, Self::Error> {
        fs::create_dir(self.local(&path)).map_err(|e| code(&e))?;
        self.log(format!("mkdir {path}"));
        Ok(ok(id))
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, Self::Error> {
        fs::remove_file(self.local(&filename)).map_err(|e| code(&e))?;
        self.log(format!("remove {filename}"));
        Ok(ok(id))
    }

    async fn rename(&mut self, id: u32, oldpath: String, newpath: String) -> Result<Status, Self::Error> {
        // SFTP v3 as OpenSSH implements it: link() then unlink(), so an existing target is refused.
        if self.local(&newpath).exists() {
            self.log(format!("refused-rename {oldpath} {newpath}"));
            return Err(StatusCode::Failure);
        }
        fs::rename(self.local(&oldpath), self.local(&newpath)).map_err(|e| code(&e))?;
        self.log(format!("rename {oldpath} {newpath}"));
        Ok(ok(id))
    }

    async fn extended(&mut self, id: u32, request: String, data: Vec<u8>) -> Result<Packet, Self::Error> {
        match request.as_str() {
            "posix-rename@openssh.com" if self.server.options.posix_rename => {
                let (old, new) = two_strings(&data).ok_or(StatusCode::BadMessage)?;
                fs::rename(self.local(&old), self.local(&new)).map_err(|e| code(&e))?;
                self.log(format!("posix-rename {old} {new}"));
                Ok(Packet::Status(ok(id)))
            }
            "fsync@openssh.com" if self.server.options.fsync => {
                // The data is the handle, as one SSH string.
                let len = u32::from_be_bytes(data.get(..4).ok_or(StatusCode::BadMessage)?.try_into().unwrap());
                let handle =
                    String::from_utf8(data[4..4 + len as usize].to_vec()).map_err(|_| StatusCode::BadMessage)?;
                let (path, file) = self.files.get(&handle).ok_or(StatusCode::Failure)?;
                file.sync_all().map_err(|e| code(&e))?;
                self.log(format!("fsync {path}"));
                Ok(Packet::Status(ok(id)))
            }
            _ => Err(StatusCode::OpUnsupported),
        }
    }
}

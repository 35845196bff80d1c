//! TLS for the P2P port (`wss://`) and the REST API (`https://`): rustls with the ring provider.
//!
//! One certificate and key (PEM) serve both ports. Outbound `wss://` dials trust the CA file
//! (`tls.caFile`) plus the node's own certificate, so a cluster sharing one self-signed
//! certificate needs no CA at all; with neither, the public web PKI roots (webpki-roots).
//! Files are read once at start-up, and every problem with them stops the node with a message
//! naming the file.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// How long a client may take to finish the TLS handshake before its socket is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// TLS handshakes in progress at once per listener; accepting waits beyond that.
const MAX_PENDING_HANDSHAKES: usize = 256;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The PEM certificates in `path` (a chain, leaf first, or CA certificates).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bad = |why: String| format!("TLS certificate file {}: {why}", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(pem_error(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(pem_error(e)))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate (BEGIN CERTIFICATE) in it".into()));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        let why = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no PEM private key (PKCS#8, PKCS#1 or SEC1) in it".into()
            }
            e => pem_error(e),
        };
        format!("TLS key file {}: {why}", path.display())
    })
}

fn pem_error(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(e) => format!("cannot read it: {e}"),
        e => format!("invalid PEM: {e}"),
    }
}

/// The server side: the certificate chain in `cert` with the private key in `key`.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let chain = load_certs(cert)?;
    let key = load_key(key)?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            format!(
                "TLS certificate {} and its key do not make a usable pair: {e}",
                cert.display()
            )
        })?;
    Ok(Arc::new(config))
}

/// The client side: trusts every certificate in the `trusted` PEM files, or the public web PKI
/// roots when there are none.
pub fn client_config(trusted: &[&Path]) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    if trusted.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for path in trusted {
        for cert in load_certs(path)? {
            roots.add(cert).map_err(|e| {
                format!(
                    "TLS certificate file {}: cannot trust it: {e}",
                    path.display()
                )
            })?;
        }
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// What the P2P transport needs: an acceptor when our port speaks TLS, and a connector for
/// `wss://` dials (which work whether or not we serve TLS ourselves).
#[derive(Clone)]
pub struct PeerTls {
    pub acceptor: Option<TlsAcceptor>,
    pub connector: TlsConnector,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PeerTls {{ serves: {} }}", self.acceptor.is_some())
    }
}

impl PeerTls {
    /// Loads the server certificate and key (both or neither) and the CA file.
    pub fn new(cert: Option<&Path>, key: Option<&Path>, ca: Option<&Path>) -> Result<Self, String> {
        let acceptor = match (cert, key) {
            (Some(cert), Some(key)) => Some(TlsAcceptor::from(server_config(cert, key)?)),
            (None, None) => None,
            _ => return Err("TLS needs both a certificate and a key file".into()),
        };
        let trusted: Vec<&Path> = ca.into_iter().chain(cert).collect();
        let connector = TlsConnector::from(client_config(&trusted)?);
        Ok(PeerTls {
            acceptor,
            connector,
        })
    }
}

/// A TCP listener whose connections come out TLS-decrypted, for `axum::serve`. Handshakes run
/// in their own tasks, so a client that stalls mid-handshake (or speaks plain HTTP to the TLS
/// port) delays nobody else; failed handshakes are logged and dropped.
pub struct TlsListener {
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(listener: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, accepted) = mpsc::channel(MAX_PENDING_HANDSHAKES);
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (stream, remote) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!("API accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, out) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    match handshake(&acceptor, stream).await {
                        Ok(tls) => {
                            let _ = out.send((tls, remote)).await;
                        }
                        Err(e) => tracing::debug!("API TLS handshake from {remote} failed: {e}"),
                    }
                });
                if tx.is_closed() {
                    return;
                }
            }
        });
        Ok(TlsListener { accepted, local })
    }
}

/// The server side of a TLS handshake, bounded by [`HANDSHAKE_TIMEOUT`].
pub async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
) -> std::io::Result<TlsStream<TcpStream>> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))?
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(accepted) => accepted,
            // The accept task only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

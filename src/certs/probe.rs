//! One TLS handshake with the proxy, with a verifier that accepts whatever is served and
//! keeps the chain, to be judged afterwards (`judge.rs`) against the expected CA.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::net::TcpStream;
use tokio_rustls::{
    rustls::{
        self,
        client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        crypto::{self, CryptoProvider},
        pki_types::{CertificateDer, ServerName, UnixTime},
        DigitallySignedStruct, SignatureScheme,
    },
    TlsConnector,
};

/// How long a connection and its handshake may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The crypto provider of every handshake and check (ring, as reqwest's: aws-lc-rs would be
/// a second crypto library to build).
pub fn provider() -> Arc<CryptoProvider> {
    // Deprecated for its lack of post-quantum key exchange, which protects recorded traffic
    // from later decryption: these handshakes carry no data at all.
    #[allow(deprecated)]
    Arc::new(crypto::ring::default_provider())
}

/// The chain `host:port` serves for the server name `sni`, leaf first.
pub async fn chain(
    host: &str,
    port: u16,
    sni: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let provider = provider();
    let recorder = Arc::new(Recorder {
        chain: Mutex::new(Vec::new()),
        provider: provider.clone(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(sni.to_string()).map_err(|e| e.to_string())?;
    let handshake = async {
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())
    };
    let stream = tokio::time::timeout(TIMEOUT, handshake)
        .await
        .map_err(|_| format!("no answer from {host}:{port} within {TIMEOUT:?}"))??;
    drop(stream);
    let chain = std::mem::take(&mut *recorder.chain.lock().expect("chain"));
    if chain.is_empty() {
        return Err("no certificate was served".into());
    }
    Ok(chain)
}

/// Accepts any chain and keeps it; signatures are still checked, so the chain is the one
/// the server holds the key of.
#[derive(Debug)]
struct Recorder {
    chain: Mutex<Vec<CertificateDer<'static>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        *self.chain.lock().expect("chain") = chain;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

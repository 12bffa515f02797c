//! QUIC packet-protection primitives on *ring*: HKDF-Expand-Label, Initial secrets for
//! every version tunscope knows, header-protection masks, AEAD open/seal, and the Retry
//! integrity tag (RFC 9001 §5, RFC 9369 §3.3).
//!
//! One key schedule serves every version: the version only picks a salt and a label set
//! (`version.rs`). This covers drafts whose salts `rustls::quic` does not know (drafts
//! 17-28, Google T050/T051/Q050, mvfst), and is checked against the RFC 9001, RFC 9369 and
//! draft-29 vectors. No cipher is implemented here: AES-GCM, ChaCha20-Poly1305, the
//! header-protection block functions and HKDF are ring's.
//!
//! Nothing here panics on input; failures are `Err(CryptoError)`.

use super::version::{Labels, Version};
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, quic};
use ring::{hkdf, hmac};

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The version has no known Initial salt.
    #[error("no Initial keys known for this QUIC version")]
    UnknownVersion,
    /// The AEAD tag did not verify: wrong keys (version, DCID) or a damaged packet.
    #[error("AEAD authentication failed")]
    AuthFailed,
    /// The packet is too short for a header-protection sample or an AEAD tag.
    #[error("packet too short for header protection or AEAD")]
    TooShort,
}

/// The AEAD of a key set: Initials always use AES-128-GCM; ChaCha20-Poly1305 is here for
/// the RFC 9001 A.5 short-header vector and for callers with 1-RTT secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    Aes128Gcm,
    ChaCha20Poly1305,
}

impl Suite {
    fn key_len(self) -> usize {
        match self {
            Suite::Aes128Gcm => 16,
            Suite::ChaCha20Poly1305 => 32,
        }
    }
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label(secret, label, "", out.len()) with SHA-256 (RFC 8446 §7.1). `label` is
/// given without the "tls13 " prefix. `out` is at most 255 bytes.
pub fn hkdf_expand_label(secret: &[u8], label: &[u8], out: &mut [u8]) -> Result<(), CryptoError> {
    let len = u16::try_from(out.len()).map_err(|_| CryptoError::TooShort)?;
    let full_len = u8::try_from(6 + label.len()).map_err(|_| CryptoError::TooShort)?;
    let len_bytes = len.to_be_bytes();
    let info: [&[u8]; 5] = [&len_bytes, &[full_len], b"tls13 ", label, &[0u8]];
    let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, secret);
    prk.expand(&info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| CryptoError::TooShort)
}

/// HKDF-Extract(salt, ikm) = HMAC-SHA256(salt, ikm).
pub fn hkdf_extract(salt: &[u8], ikm: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, salt), ikm);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref()); // SHA-256 output is 32 bytes
    out
}

/// The Initial secrets of a connection (RFC 9001 §5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialSecrets {
    pub initial: [u8; 32],
    pub client: [u8; 32],
    pub server: [u8; 32],
    pub labels: Labels,
}

impl InitialSecrets {
    /// Derive from the DCID of the client's first Initial (or the Retry SCID after a Retry).
    pub fn derive(version: Version, client_dcid: &[u8]) -> Result<Self, CryptoError> {
        let (salt, labels) = version.initial_salt().ok_or(CryptoError::UnknownVersion)?;
        let initial = hkdf_extract(salt, client_dcid);
        let mut client = [0u8; 32];
        let mut server = [0u8; 32];
        hkdf_expand_label(&initial, b"client in", &mut client)?;
        hkdf_expand_label(&initial, b"server in", &mut server)?;
        Ok(InitialSecrets {
            initial,
            client,
            server,
            labels,
        })
    }
}

/// Key, IV and header-protection key bytes derived from one traffic secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyMaterial {
    pub suite: Suite,
    /// 16 bytes for AES-128-GCM, 32 for ChaCha20-Poly1305 (the rest of the array is zero).
    key: [u8; 32],
    pub iv: [u8; 12],
    hp: [u8; 32],
}

impl KeyMaterial {
    pub fn from_secret(secret: &[u8], labels: Labels, suite: Suite) -> Result<Self, CryptoError> {
        let n = suite.key_len();
        let mut key = [0u8; 32];
        let mut iv = [0u8; 12];
        let mut hp = [0u8; 32];
        hkdf_expand_label(secret, labels.key(), &mut key[..n])?;
        hkdf_expand_label(secret, labels.iv(), &mut iv)?;
        hkdf_expand_label(secret, labels.hp(), &mut hp[..n])?;
        Ok(KeyMaterial { suite, key, iv, hp })
    }

    pub fn key(&self) -> &[u8] {
        &self.key[..self.suite.key_len()]
    }

    pub fn hp(&self) -> &[u8] {
        &self.hp[..self.suite.key_len()]
    }
}

/// Ready-to-use keys for one direction: AEAD, IV and header protection.
pub struct DirectionalKeys {
    aead: LessSafeKey,
    iv: [u8; 12],
    hp: quic::HeaderProtectionKey,
}

impl std::fmt::Debug for DirectionalKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirectionalKeys { .. }")
    }
}

impl DirectionalKeys {
    pub fn new(m: &KeyMaterial) -> Result<Self, CryptoError> {
        let (aead_alg, hp_alg) = match m.suite {
            Suite::Aes128Gcm => (&aead::AES_128_GCM, &quic::AES_128),
            Suite::ChaCha20Poly1305 => (&aead::CHACHA20_POLY1305, &quic::CHACHA20),
        };
        let unbound = UnboundKey::new(aead_alg, m.key()).map_err(|_| CryptoError::TooShort)?;
        let hp =
            quic::HeaderProtectionKey::new(hp_alg, m.hp()).map_err(|_| CryptoError::TooShort)?;
        Ok(DirectionalKeys {
            aead: LessSafeKey::new(unbound),
            iv: m.iv,
            hp,
        })
    }

    /// The 5-byte header-protection mask for a 16-byte `sample`.
    pub fn hp_mask(&self, sample: &[u8]) -> Result<[u8; 5], CryptoError> {
        self.hp.new_mask(sample).map_err(|_| CryptoError::TooShort)
    }

    /// `iv XOR packet_number` (RFC 9001 §5.3).
    pub fn nonce(&self, pn: u64) -> [u8; 12] {
        let mut n = self.iv;
        for (b, p) in n[4..].iter_mut().zip(pn.to_be_bytes()) {
            *b ^= p;
        }
        n
    }

    /// Open `payload` (ciphertext followed by the 16-byte tag) in place; returns the
    /// plaintext slice.
    pub fn open_in_place<'p>(
        &self,
        pn: u64,
        aad: &[u8],
        payload: &'p mut [u8],
    ) -> Result<&'p mut [u8], CryptoError> {
        let nonce = Nonce::assume_unique_for_key(self.nonce(pn));
        self.aead
            .open_in_place(nonce, Aad::from(aad), payload)
            .map_err(|_| CryptoError::AuthFailed)
    }

    /// Seal `payload` in place and append the tag. Used to build test packets.
    pub fn seal_in_place(
        &self,
        pn: u64,
        aad: &[u8],
        payload: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        let nonce = Nonce::assume_unique_for_key(self.nonce(pn));
        self.aead
            .seal_in_place_append_tag(nonce, Aad::from(aad), payload)
            .map_err(|_| CryptoError::TooShort)
    }
}

/// Both directions' Initial keys of one connection.
#[derive(Debug)]
pub struct InitialKeys {
    pub version: Version,
    pub client: DirectionalKeys,
    pub server: DirectionalKeys,
}

impl InitialKeys {
    pub fn derive(version: Version, client_dcid: &[u8]) -> Result<Self, CryptoError> {
        let s = InitialSecrets::derive(version, client_dcid)?;
        let c = KeyMaterial::from_secret(&s.client, s.labels, Suite::Aes128Gcm)?;
        let v = KeyMaterial::from_secret(&s.server, s.labels, Suite::Aes128Gcm)?;
        Ok(InitialKeys {
            version,
            client: DirectionalKeys::new(&c)?,
            server: DirectionalKeys::new(&v)?,
        })
    }
}

/// Most bytes of a Retry pseudo-packet [`retry_integrity_tag`] accepts (a CID length byte,
/// a CID of up to 255 bytes and a Retry that fits one UDP datagram).
const MAX_PSEUDO: usize = 1 + 255 + 65_535;

/// The Retry Integrity Tag (RFC 9001 §5.8) of `retry_without_tag` sent in answer to a client
/// Initial whose DCID was `odcid`. `None` for versions without a known Retry key.
pub fn retry_integrity_tag(
    version: Version,
    odcid: &[u8],
    retry_without_tag: &[u8],
) -> Option<[u8; 16]> {
    let (key, nonce) = version.retry_key()?;
    let odcid_len = u8::try_from(odcid.len()).ok()?;
    if 1 + odcid.len() + retry_without_tag.len() > MAX_PSEUDO {
        return None;
    }
    let mut aad = Vec::with_capacity(1 + odcid.len() + retry_without_tag.len());
    aad.push(odcid_len);
    aad.extend_from_slice(odcid);
    aad.extend_from_slice(retry_without_tag);
    let k = LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, key).ok()?);
    let mut empty: [u8; 0] = [];
    let tag = k
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(&aad[..]),
            &mut empty,
        )
        .ok()?;
    let mut out = [0u8; 16];
    out.copy_from_slice(tag.as_ref());
    Some(out)
}

/// True when `retry` (the whole Retry packet, tag included) carries a valid integrity tag
/// for a client whose original DCID was `odcid`.
pub fn verify_retry(version: Version, odcid: &[u8], retry: &[u8]) -> bool {
    let Some(split) = retry.len().checked_sub(16) else {
        return false;
    };
    let (body, tag) = retry.split_at(split);
    match retry_integrity_tag(version, odcid, body) {
        // Not constant-time: a passive observer has no secret to protect here.
        Some(t) => t.as_slice() == tag,
        None => false,
    }
}

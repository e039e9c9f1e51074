//! Binding a listening socket, with an error that says which address could not be had and
//! which setting chose it, in one line.

use std::net::SocketAddr;

use tokio::net::TcpListener;

/// A listening address that could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {address} (set by {setting}): {reason}")]
pub struct BindError {
    address: SocketAddr,
    setting: &'static str,
    // The I/O error as text, not as a source: the message is the whole story, on one line.
    reason: String,
}

/// Binds `address`, which the setting (environment variable) `setting` gave.
pub async fn bind(address: SocketAddr, setting: &'static str) -> Result<TcpListener, BindError> {
    TcpListener::bind(address).await.map_err(|error| BindError {
        address,
        setting,
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_taken_address_is_named_with_its_setting() {
        let taken = bind("127.0.0.1:0".parse().unwrap(), "PARLEY_TEST_ADDR")
            .await
            .unwrap();
        let address = taken.local_addr().unwrap();
        let error = bind(address, "PARLEY_TEST_ADDR").await.unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "cannot listen on {address} (set by PARLEY_TEST_ADDR): "
            )),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
    }
}

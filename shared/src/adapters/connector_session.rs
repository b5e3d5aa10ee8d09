//! The connector's credentials, asked for as soon as a function is wired instead of by its first
//! check: after a cold start, the first invocation finds the session ready (or on its way) while
//! it reads the destination, instead of waiting a whole AssumeRole round trip before its own.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, future};
use tokio::task::JoinHandle;

/// Hands out one session fetched ahead of time, then whatever `provider` gives; the SDK's cache
/// in front of it asks again only when a session nears expiry.
#[derive(Debug)]
pub struct AheadOfFirstUse<P> {
    provider: Arc<P>,
    first: Mutex<Option<JoinHandle<provider::Result>>>,
}

impl<P: ProvideCredentials + 'static> AheadOfFirstUse<P> {
    /// Starts fetching a session from `provider` now, on the current Tokio runtime.
    pub fn start(provider: P) -> Self {
        let provider = Arc::new(provider);
        let fetching = provider.clone();
        let first = tokio::spawn(async move { fetching.provide_credentials().await });
        Self {
            provider,
            first: Mutex::new(Some(first)),
        }
    }
}

impl<P: ProvideCredentials + 'static> ProvideCredentials for AheadOfFirstUse<P> {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let first = self.first.lock().ok().and_then(|mut first| first.take());
        future::ProvideCredentials::new(async move {
            if let Some(first) = first
                && let Ok(Ok(credentials)) = first.await
                && fresh_enough(&credentials)
            {
                return Ok(credentials);
            }
            // Not fetched ahead, or that attempt failed (say while IAM was still propagating the
            // connector's trust), or nothing asked until the session was about to expire (an
            // idle environment): ask now, as without this.
            self.provider.provide_credentials().await
        })
    }
}

/// What the SDK's lazy cache would itself refresh ahead of (its default buffer is 10 s; a session
/// this close to its end is not worth handing over).
const EXPIRY_MARGIN: Duration = Duration::from_secs(5 * 60);

fn fresh_enough(credentials: &Credentials) -> bool {
    credentials
        .expiry()
        .is_none_or(|expiry| expiry > SystemTime::now() + EXPIRY_MARGIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts the sessions asked for; fails the first `failing` of them, and hands out the first
    /// already expiring when `expiring_first`.
    #[derive(Debug, Default)]
    struct Counting {
        asked: Arc<AtomicUsize>,
        failing: usize,
        expiring_first: bool,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let asked = self.asked.fetch_add(1, Ordering::SeqCst);
            let expiry = SystemTime::now()
                + if asked == 0 && self.expiring_first {
                    Duration::from_secs(60)
                } else {
                    Duration::from_secs(3600)
                };
            future::ProvideCredentials::ready(if asked < self.failing {
                Err(provider::error::CredentialsError::not_loaded("not yet"))
            } else {
                Ok(Credentials::new(
                    "ASIATEST",
                    "secret",
                    None,
                    Some(expiry),
                    "test",
                ))
            })
        }
    }

    #[tokio::test]
    async fn the_first_session_is_fetched_before_anyone_asks_and_used_once() {
        // GIVEN a provider wrapped as the writer wraps the connector's
        let asked = Arc::new(AtomicUsize::new(0));
        let ahead = AheadOfFirstUse::start(Counting {
            asked: asked.clone(),
            ..Counting::default()
        });
        // WHEN nothing has asked yet
        tokio::task::yield_now().await;
        // THEN the session is already being fetched
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        // AND the first caller gets it without another fetch, later callers from the provider
        ahead.provide_credentials().await.unwrap();
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        ahead.provide_credentials().await.unwrap();
        assert_eq!(asked.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_early_fetch_is_made_again_for_the_first_caller() {
        // GIVEN the early fetch fails (the connector's trust not yet propagated, say)
        let asked = Arc::new(AtomicUsize::new(0));
        let ahead = AheadOfFirstUse::start(Counting {
            asked: asked.clone(),
            failing: 1,
            ..Counting::default()
        });
        // WHEN the first check asks
        let credentials = ahead.provide_credentials().await;
        // THEN it gets a session from a second attempt, not the early failure
        assert!(credentials.is_ok(), "{credentials:?}");
        assert_eq!(asked.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_session_fetched_ahead_but_about_to_expire_is_not_handed_over() {
        // GIVEN a session fetched ahead that nothing asked for until minutes before its end
        let asked = Arc::new(AtomicUsize::new(0));
        let ahead = AheadOfFirstUse::start(Counting {
            asked: asked.clone(),
            expiring_first: true,
            ..Counting::default()
        });
        // WHEN the first check asks
        let credentials = ahead.provide_credentials().await.unwrap();
        // THEN it gets a new session, good for the check
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        assert!(fresh_enough(&credentials));
    }
}

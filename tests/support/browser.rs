//! Headless Chromium driven over WebDriver (Debian's chromium and chromedriver, which
//! `infra/test.sh` installs), for the setup page: each test gets its own driver and browser, a
//! folder of screenshots under `target/screenshots/`, and axe-core's accessibility check.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// Long enough for a Test Connection against the emulator on a busy 2-core machine.
const WAIT: Duration = Duration::from_secs(60);

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: TempDir,
    screenshots: PathBuf,
    shot: usize,
    /// The page's address, such as `http://127.0.0.1:4321`.
    pub base: String,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn installed(program: &str) -> String {
    let path = format!("/usr/bin/{program}");
    if std::path::Path::new(&path).exists() {
        return path;
    }
    panic!("{program} is not installed; run the tests with infra/test.sh, which installs it")
}

impl Browser {
    /// A fresh browser of `width` × `height` CSS pixels, pointed at nothing yet. `test` names the
    /// screenshot folder.
    pub async fn start(test: &str, base: &str, width: u32, height: u32) -> Browser {
        let port = crate::free_port();
        let driver = Command::new(installed("chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = TempDir(std::env::temp_dir().join(format!(
            "setup-page-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        )));
        // Flags for a machine with a closed network: no background connections, no GPU.
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": installed("chromium"),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions",
                    "--hide-scrollbars", "--force-device-scale-factor=1",
                    format!("--user-data-dir={}", profile.0.display()),
                    format!("--window-size={width},{height}"),
                ]
            }
        });
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities.as_object().unwrap().clone());
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            match builder.connect(&format!("http://127.0.0.1:{port}")).await {
                Ok(client) => break client,
                Err(e) if Instant::now() > deadline => panic!("no WebDriver session: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        client.set_window_size(width, height).await.unwrap();
        let screenshots = crate::target_dir().join("screenshots").join(test);
        let _ = std::fs::remove_dir_all(&screenshots);
        std::fs::create_dir_all(&screenshots).unwrap();
        Browser {
            client,
            driver,
            _profile: profile,
            screenshots,
            shot: 0,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// Opens `path` of the page and waits until its script has finished starting.
    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
        self.wait_until(
            "the page to start",
            "return document.body.dataset.ready === 'true'",
        )
        .await;
    }

    /// Waits until `script` (a function body) returns true.
    pub async fn wait_until(&self, what: &str, script: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            // A page on its way to the issuer and back has no script context for a moment:
            // that is "not yet" too.
            let answer = self.client.execute(script, vec![]).await;
            if matches!(answer, Ok(Value::Bool(true))) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what} (last answer {answer:?}); the page shows:\n{}",
                    self.visible_text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the element `css` is shown.
    pub async fn wait_visible(&self, css: &str) {
        self.wait_until(
            &format!("{css} to show"),
            &format!(
                "const e = document.querySelector({}); return !!e && e.checkVisibility();",
                json!(css)
            ),
        )
        .await;
    }

    pub async fn visible_text(&self) -> String {
        self.client
            .execute("return document.body.innerText", vec![])
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
    }

    pub async fn click(&self, css: &str) {
        self.wait_visible(css).await;
        self.find(css).await.click().await.unwrap();
    }

    /// Clears the field and types `text` into it, as a person would.
    pub async fn fill(&self, css: &str, text: &str) {
        self.wait_visible(css).await;
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// The element's text as shown (for `pre`, exactly what a person copies).
    pub async fn text(&self, css: &str) -> String {
        self.client
            .execute(
                "return document.querySelector(arguments[0]).textContent",
                vec![json!(css)],
            )
            .await
            .unwrap()
            .as_str()
            .unwrap_or_else(|| panic!("no {css}"))
            .to_owned()
    }

    /// The text of every element `css` matches, in document order.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let texts = self
            .client
            .execute(
                "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)",
                vec![json!(css)],
            )
            .await
            .unwrap();
        serde_json::from_value(texts).unwrap()
    }

    pub async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    pub async fn is_enabled(&self, css: &str) -> bool {
        self.find(css).await.is_enabled().await.unwrap()
    }

    /// Evaluates a function body in the page.
    pub async fn eval(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Saves a screenshot as `target/screenshots/<test>/<nn>-<name>.png`; returns its path.
    pub async fn screenshot(&mut self, name: &str) -> PathBuf {
        self.shot += 1;
        let path = self
            .screenshots
            .join(format!("{:02}-{name}.png", self.shot));
        // The whole page, not only the window: grow the window to the page's height for the shot.
        let (width, height) = self.client.get_window_size().await.unwrap();
        let page_height = self
            .eval("return document.documentElement.scrollHeight")
            .await
            .as_u64()
            .unwrap_or(height);
        let shot_height = page_height.clamp(height, 6000) as u32;
        self.client
            .set_window_size(width as u32, shot_height)
            .await
            .unwrap();
        let png = self.client.screenshot().await.unwrap();
        self.client
            .set_window_size(width as u32, height as u32)
            .await
            .unwrap();
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Runs axe-core (WCAG 2.1 A and AA, and best practices) on the page as it is now; panics
    /// on any serious or critical violation, naming the rule and the elements.
    pub async fn assert_accessible(&self, state: &str) {
        let path = std::env::var("AXE_CORE_JS")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                crate::target_dir().join("tools/browser/node_modules/axe-core/axe.min.js")
            });
        let axe = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "axe-core is not installed at {} ({e}); run the tests with infra/test.sh",
                path.display()
            )
        });
        // WebDriver's script evaluation is not subject to the page's CSP, which allows no
        // injected script: the checker runs without loosening the policy under test.
        let loaded = self
            .client
            .execute(
                &format!("{axe}\n;return typeof window.axe === 'object';"),
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(loaded, Value::Bool(true), "axe-core did not load");
        let violations = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"] } })
                     .then((r) => done(r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")) }))))
                     .catch((e) => done([{ id: "axe-error", impact: "critical", help: String(e), nodes: [] }]));"#,
                vec![],
            )
            .await
            .unwrap();
        let serious: Vec<&Value> = violations
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(
            serious.is_empty(),
            "accessibility violations on {state}:\n{}",
            serde_json::to_string_pretty(&serious).unwrap()
        );
    }

    /// Fails when the page is wider than the window (content cut off at small widths).
    pub async fn assert_fits_the_width(&self, state: &str) {
        let sizes = self
            .eval("return [document.documentElement.scrollWidth, window.innerWidth]")
            .await;
        let (content, window) = (sizes[0].as_u64().unwrap(), sizes[1].as_u64().unwrap());
        assert!(
            content <= window,
            "on {state} the page is {content} px wide in a {window} px window"
        );
    }
}

impl Browser {
    /// Ends the WebDriver session, which closes the browser.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // A test that panicked never closed its session: end its browser by its own profile.
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(self._profile.0.as_os_str())
            .status();
    }
}

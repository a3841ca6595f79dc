//! The page in a real browser: headless Chromium, driven through chromedriver (WebDriver),
//! draws a vertical stroke on the canvas with pointer events and must show each model's
//! digit and ten bars; its text must be readable in light and dark mode. Screenshots are saved
//! under target/ for people to look at.
//!
//! Skipped with a note when `chromium` or `chromedriver` is not installed (Debian:
//! `apt-get install chromium chromium-driver`), except under CI (`CI` set), where it fails.

use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, PointerAction, TouchActions};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use nn_serve::Config;
use serde_json::json;

mod chromium;
mod common;
use chromium::{WAIT, in_browser};
use common::{TestServer, save_screenshot, two_models};

#[test]
fn drawing_a_stroke_shows_each_models_digit_and_ten_bars() {
    let server = TestServer::start(two_models(), Config::default());
    if let Some(screenshot) = in_browser(&[], async |client| draw_and_check(client, &server.url).await) {
        save_screenshot("nn-serve-page.png", &screenshot);
    }
}

/// Every kind of text on the page, in light and in dark mode, stands out from what is behind
/// it by WCAG's AA contrast (4.5:1), and dark mode really is dark.
#[test]
fn text_is_readable_in_light_and_dark_mode() {
    let server = TestServer::start(two_models(), Config::default());
    // Chromium's switch for the system's dark mode, which `prefers-color-scheme` reads.
    for (scheme, args) in [("light", &[][..]), ("dark", &["--force-dark-mode"][..])] {
        let Some((report, screenshot)) = in_browser(args, async |client| {
            client.goto(&server.url).await.unwrap();
            client.wait().at_most(WAIT).for_element(Locator::Css("body[data-ready='true']")).await.unwrap();
            (client.execute(CONTRAST_REPORT, vec![]).await.unwrap(), client.screenshot().await.unwrap())
        }) else {
            return;
        };
        eprintln!("{scheme} mode: {report}");
        assert_eq!(report["dark"], json!(scheme == "dark"), "the browser reports the {scheme} scheme");
        let background = report["background_luminance"].as_f64().unwrap();
        if scheme == "dark" {
            assert!(background < 0.05, "dark mode has a dark background (luminance {background})");
        } else {
            assert!(background > 0.8, "light mode has a light background (luminance {background})");
        }
        let lowest = report["lowest"].as_f64().unwrap();
        assert!(lowest >= 4.5, "{scheme} mode: {} has a contrast of only {lowest:.2}:1", report["element"]);
        save_screenshot(&format!("nn-serve-page-{scheme}.png"), &screenshot);
    }
}

/// The lowest WCAG contrast ratio between a text element's colour and the first opaque
/// background behind it, over every kind of text the page shows; and the page's background
/// luminance.
const CONTRAST_REPORT: &str = r#"
    // WCAG 2 relative luminance of an "rgb(r, g, b)" colour.
    const luminance = (css) => {
        const [r, g, b] = css.match(/[\d.]+/g).slice(0, 3).map(Number).map((c) => {
            c /= 255;
            return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const opaqueBackground = (element) => {
        for (let e = element; e; e = e.parentElement) {
            const background = getComputedStyle(e).backgroundColor;
            const alpha = background.startsWith('rgba') ? Number(background.match(/[\d.]+/g)[3]) : 1;
            if (alpha > 0) return background;
        }
        return getComputedStyle(document.documentElement).backgroundColor;
    };
    let lowest = Infinity, element = '';
    const selectors = ['h1', 'header p', '.hint', 'footer', '#status', '.answer h2', '.meta', '.digit',
                       '.confidence', '.seen', '.pct', 'button', 'label'];
    for (const selector of selectors) {
        for (const e of document.querySelectorAll(selector)) {
            const a = luminance(getComputedStyle(e).color), b = luminance(opaqueBackground(e));
            const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
            if (ratio < lowest) { lowest = ratio; element = selector; }
        }
    }
    return {
        dark: matchMedia('(prefers-color-scheme: dark)').matches,
        background_luminance: luminance(opaqueBackground(document.body)),
        lowest, element,
    };
"#;

/// Draws, checks the answers, clears with the keyboard; returns a screenshot of the answers.
async fn draw_and_check(client: &Client, url: &str) -> Vec<u8> {
    client.goto(url).await.unwrap();
    client.wait().at_most(WAIT).for_element(Locator::Css("body[data-ready='true']")).await.unwrap();
    let pad = client.find(Locator::Id("pad")).await.unwrap();

    // A finger's vertical stroke down the middle, in small steps as a real one arrives.
    let mut stroke = TouchActions::new("finger".to_string()).then(PointerAction::MoveToElement {
        element: pad.clone(),
        duration: None,
        x: 5.0,
        y: -95.0,
    });
    stroke = stroke.then(PointerAction::Down { button: MOUSE_BUTTON_LEFT });
    for step in 1..=19 {
        stroke = stroke.then(PointerAction::MoveToElement {
            element: pad.clone(),
            duration: Some(Duration::from_millis(15)),
            x: 5.0 - f64::from(step) * 0.3,
            y: -95.0 + f64::from(step) * 10.0,
        });
    }
    stroke = stroke.then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    client.perform_actions(stroke).await.unwrap();

    let digits = wait_for_digits(client).await;
    eprintln!("the models see {digits:?} in a vertical stroke");
    let cards = client.find_all(Locator::Css(".answer")).await.unwrap();
    assert_eq!(cards.len(), 2, "one answer per model, side by side");
    for card in &cards {
        let bars = card.find_all(Locator::Css(".bars li .fill")).await.unwrap();
        assert_eq!(bars.len(), 10);
        let mut total = 0.0;
        for pct in card.find_all(Locator::Css(".bars li .pct")).await.unwrap() {
            total += pct.text().await.unwrap().trim_end_matches('%').parse::<f64>().unwrap();
        }
        assert!((total - 100.0).abs() < 1.0, "the ten bars add up to {total}%");
    }
    let prepared: i64 = client
        .execute(
            "const c = document.querySelector('.answer .prepared').getContext('2d');
             return c.getImageData(0, 0, 28, 28).data.filter((v, i) => i % 4 === 0 && v > 128).length;",
            vec![],
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert!(prepared > 20, "the prepared 28x28 input shows the stroke ({prepared} bright pixels)");
    let screenshot = client.screenshot().await.unwrap();

    // Clear, from the keyboard.
    client.execute("document.getElementById('clear').focus()", vec![]).await.unwrap();
    client.active_element().await.unwrap().send_keys(&Key::Enter.to_string()).await.unwrap();
    let digit = client.find(Locator::Css(".answer .digit")).await.unwrap().text().await.unwrap();
    assert_eq!(digit, "–", "Clear resets the answers");

    // A phone's width: nothing wider than the screen, the pad within it.
    client.set_window_size(390, 844).await.unwrap();
    let fits = client
        .execute(
            "const pad = document.getElementById('pad').getBoundingClientRect();
             return document.documentElement.scrollWidth <= window.innerWidth && pad.right <= window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fits, serde_json::Value::Bool(true), "the page fits a phone's width");
    screenshot
}

/// The digit each model shows, once all show one.
async fn wait_for_digits(client: &Client) -> Vec<u32> {
    let started = Instant::now();
    loop {
        let mut digits = Vec::new();
        for element in client.find_all(Locator::Css(".answer .digit")).await.unwrap() {
            if let Some(digit) = element.text().await.unwrap().trim().parse::<u32>().ok().filter(|&d| d < 10) {
                digits.push(digit);
            }
        }
        if digits.len() == 2 {
            return digits;
        }
        if started.elapsed() > WAIT {
            let status = client.find(Locator::Css(".answer .confidence")).await.unwrap().text().await.unwrap();
            panic!("no digit shown after {WAIT:?}: {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

"""The web UI in headless Chromium (Debian's chromium and chromium-driver, through Selenium): run by scripts/check-api
against a running `slipway up` whose admin has a password. It logs in (after a wrong password), reads the models page
at desktop and phone widths, opens the API reference, and logs out — asserting on what the pages show and saving a
screenshot of each page in the screenshot directory.

Usage: browser-check.py BASE_URL USERNAME PASSWORD SCREENSHOT_DIR
"""

import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

base, username, password, shots = sys.argv[1:5]
os.makedirs(shots, exist_ok=True)
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def shot(name):
    driver.save_screenshot(os.path.join(shots, name + ".png"))


def check_training(driver, wait, base):
    """The training pages, once a run exists: the cards with their nine stage segments, then the first run's page with
    its stage list and an SVG chart; neither scrolls sideways at phone width."""
    driver.get(base + "/training")
    card = wait.until(seen.visibility_of_element_located((By.CSS_SELECTOR, "article.run-card")))
    segments = card.find_elements(By.CSS_SELECTOR, "ol.segments li.segment")
    check(len(segments) == 9, "a run card shows nine stage segments (%d)" % len(segments))
    check(all(segment.get_attribute("title") for segment in segments), "each segment names its stage and status")
    shot("training")

    card.find_element(By.CSS_SELECTOR, "h2 a").click()
    wait.until(seen.url_contains("/training/"))
    stages = wait.until(seen.visibility_of_all_elements_located((By.CSS_SELECTOR, "ol.stage-list li.stage")))
    check(len(stages) == 9, "the run page lists its nine stages (%d)" % len(stages))
    charts = driver.find_elements(By.CSS_SELECTOR, "figure.chart svg[role=img]")
    check(any(chart.is_displayed() for chart in charts), "the run page draws an SVG chart (%d)" % len(charts))
    shot("training-run")

    driver.set_window_size(390, 844)
    for page in [driver.current_url, base + "/training"]:
        driver.get(page)
        wait.until(seen.visibility_of_element_located((By.TAG_NAME, "h1")))
        overflow = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        check(overflow <= 1, "%s: no sideways scrolling at 390 px (%s px over)" % (page, overflow))
    driver.set_window_size(1280, 900)


options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"]:
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 15)
try:
    # A page without a session sends the browser to the login, which returns it there.
    driver.get(base + "/models?status=")
    wait.until(seen.url_contains("/login"))
    check("next=" in driver.current_url, "the login knows where to return: " + driver.current_url)
    shot("login")

    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys("not the password")
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    error = wait.until(seen.visibility_of_element_located((By.ID, "login-error")))
    check("wrong" in error.text, "a wrong password is said so: " + error.text)
    shot("login-refused")

    field = driver.find_element(By.NAME, "password")
    field.clear()
    field.send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(seen.url_contains("/models"))
    heading = wait.until(seen.visibility_of_element_located((By.TAG_NAME, "h1")))
    check(heading.text == "Models", "logged in, the models page: " + heading.text)
    figures = driver.find_element(By.CSS_SELECTOR, "section.kpis").text
    check("Models" in figures and "Deployed" in figures, "the registry's figures are shown")
    check(username in driver.find_element(By.CSS_SELECTOR, ".who").text, "the page names who is logged in")
    labels = [label.text for label in driver.find_elements(By.CSS_SELECTOR, "form.filters label")]
    check(all(any(name in text for text in labels) for name in ["Type", "Status", "Schedule", "Search"]), "every filter has a label")
    shot("models")

    # A filter that matches nothing says so.
    search = driver.find_element(By.NAME, "search")
    search.send_keys("no-such-model-anywhere")
    search.submit()
    wait.until(seen.url_contains("search=no-such-model-anywhere"))
    check("match these filters" in driver.find_element(By.TAG_NAME, "main").text, "an empty filter result is explained")

    # Phone width: the page does not scroll sideways (the table scrolls inside its box).
    driver.set_window_size(390, 844)
    driver.get(base + "/models")
    wait.until(seen.visibility_of_element_located((By.TAG_NAME, "h1")))
    overflow = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    check(overflow <= 1, "no sideways scrolling at 390 px (%s px over)" % overflow)
    shot("models-phone")
    driver.set_window_size(1280, 900)

    # The API reference renders every route.
    driver.get(base + "/docs")
    status = wait.until(lambda d: d.find_element(By.ID, "status") if "routes." in d.find_element(By.ID, "status").text else False)
    check(int(status.text.split(" ")[0]) > 100, "the API reference lists the routes: " + status.text)
    shot("docs")

    # Logging out ends the session: the page sends the browser to the login again.
    driver.get(base + "/models")
    wait.until(seen.element_to_be_clickable((By.ID, "logout"))).click()
    wait.until(seen.url_contains("/login"))
    driver.get(base + "/models")
    wait.until(seen.url_contains("/login"))
    check("/login" in driver.current_url, "after logging out, pages need a login again")
finally:
    driver.quit()

print("RESULT browser_checks_failed=%d" % len(failures))
sys.exit(1 if failures else 0)

"""The web UI in headless Chromium (Debian's chromium and chromium-driver, through Selenium): run by scripts/check-api
against a running `slipway up` where USERNAME (an editor) has a password and MODEL has a registered version. It logs in
(after a wrong password), reads the models page at desktop and phone widths, opens the model's page and its tabs,
deploys the model from its deployment tab and waits for the endpoint to serve, opens the API reference, and logs out
— asserting on what the pages show and saving a screenshot of each page in the screenshot directory.

Usage: browser-check.py BASE_URL USERNAME PASSWORD SCREENSHOT_DIR MODEL
"""

import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

base, username, password, shots, model = sys.argv[1:6]
os.makedirs(shots, exist_ok=True)
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def shot(name):
    driver.save_screenshot(os.path.join(shots, name + ".png"))


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

    # The model's page, from the registry's table: its figures and the spec's tabs.
    driver.get(base + "/models")
    wait.until(seen.element_to_be_clickable((By.CSS_SELECTOR, 'a[href="/models/%s"]' % model))).click()
    wait.until(seen.url_contains("/models/" + model))
    check(model in driver.find_element(By.TAG_NAME, "h1").text, "the model's page is titled with its name")
    tabs = [tab.text for tab in driver.find_elements(By.CSS_SELECTOR, "nav.tabs a")]
    check(tabs == ["Overview", "Versions", "Artifacts", "Deployment", "Lineage"], "the model's tabs: %s" % tabs)
    figures = driver.find_element(By.CSS_SELECTOR, "section.kpis").text
    check("Recall@100" in figures and "v1" in figures, "the overview shows the latest version and its Recall@100")
    shot("model")
    driver.find_element(By.LINK_TEXT, "Versions").click()
    wait.until(seen.url_contains("tab=versions"))
    table = driver.find_element(By.CSS_SELECTOR, "main table").text
    check("v1" in table and "Recall@100" in table, "the versions tab compares the versions' metrics")
    shot("model-versions")
    driver.find_element(By.LINK_TEXT, "Lineage").click()
    wait.until(seen.url_contains("tab=lineage"))
    check("Dataset" in driver.find_element(By.TAG_NAME, "main").text, "the lineage tab names the version's dataset")
    shot("model-lineage")

    # Deploy from the deployment tab (an editor sees the form), confirm, and watch the endpoint come up.
    driver.find_element(By.LINK_TEXT, "Deployment").click()
    wait.until(seen.url_contains("tab=deployment"))
    form = wait.until(seen.visibility_of_element_located((By.CSS_SELECTOR, "form.action")))
    form.find_element(By.NAME, "endpoint").send_keys("browser-check")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(seen.alert_is_present()).accept()
    serving = False
    for _ in range(90):
        rows = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "main tbody tr")]
        if any("browser-check" in row and "serving" in row and "v1 100%" in row for row in rows):
            serving = True
            break
        time.sleep(1)
        driver.refresh()
    check(serving, "the deploy from the page serves v1 on browser-check: %s" % rows)
    check(not driver.find_element(By.ID, "action-error").is_displayed(), "no refusal shown")
    shot("model-deployment")

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

"""The web UI in headless Chromium (Debian's chromium and chromium-driver, through Selenium): run by scripts/check-api
against a running `slipway up` where USERNAME (an editor) has a password and MODEL has a version trained by `slipway train
--demo`. It logs in (after a wrong password), reads the models page at desktop and phone widths, trains the model's
second version through the training wizard and follows it to completion, reads the training runs and a run's page,
opens the model's page and its tabs,
deploys v1 then v2 from its deployment dashboard's dialogs, rolls back to v1 on the endpoint's page, runs the endpoint's example in
its API view's playground, creates an API key, sends traffic with it, makes an alert rule on the monitoring tab,
waits for it to fire and acknowledges it, runs an endpoint test and a load test from the tests tab, sees an undeploy made elsewhere appear without a reload, makes a
retraining schedule on the model's page and pauses it, changes its timing on its own page (previewing the fire times) and resumes it, reads the model's timeline (and
filters it), opens the API reference, and logs out
— asserting on what the pages show and saving a screenshot of each page in the screenshot directory.

Usage: browser-check.py BASE_URL USERNAME PASSWORD SCREENSHOT_DIR MODEL
"""

import json
import os
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
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


def text_of(selector):
    """An element's text, read at once (see table_rows)."""
    return driver.execute_script("return document.querySelector(arguments[0]).innerText", selector)


def live(action):
    """Runs an action on a live page's elements again when the page swapped them out meanwhile."""
    for attempt in range(5):
        try:
            return action()
        except StaleElementReferenceException:
            if attempt == 4:
                raise
            time.sleep(0.2)


def table_rows():
    """The text of the main table's rows, read at once: a live page may swap its content between two reads."""
    return driver.execute_script("return [...document.querySelectorAll('main tbody tr')].map(row => row.innerText)")


def shot(name):
    driver.save_screenshot(os.path.join(shots, name + ".png"))


def eventually(probe, seconds, every=0.5):
    """Whether `probe()` comes true within `seconds`: what a live page shows arrives when its event does."""
    deadline = time.time() + seconds
    while True:
        if probe():
            return True
        if time.time() >= deadline:
            return False
        time.sleep(every)


def text_or_empty(selector):
    """An element's text, or "" while the page has none."""
    return driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", selector) or ""


def no_sideways_scroll(pages):
    """Each page at phone width (390 px): the page does not scroll sideways (tables and charts scroll or shrink inside
    their boxes)."""
    driver.set_window_size(390, 844)
    for page in pages:
        driver.get(page)
        wait.until(seen.visibility_of_element_located((By.TAG_NAME, "h1")))
        overflow = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        check(overflow <= 1, "%s: no sideways scrolling at 390 px (%s px over)" % (page, overflow))


def train_with_wizard():
    """Trains the model's second version through the training wizard (the demo's dataset and configurations, which the
    first run made), and follows the new run's page until it completes."""
    driver.get(base + "/training")
    live(lambda: driver.find_element(By.LINK_TEXT, "New training run").click())
    wait.until(seen.url_contains("/training/new"))
    form = driver.find_element(By.CSS_SELECTOR, "form.wizard")
    form.find_element(By.NAME, "name").send_keys(model)
    for name, wanted in [("dataset_id", "demo-"), ("feature_config_id", "b2b-default"), ("model_config_id", "mf-64")]:
        options = form.find_elements(By.CSS_SELECTOR, "select[name='%s'] option" % name)
        chosen = [option for option in options if option.text.startswith(wanted)]
        check(bool(chosen), "the wizard offers %s %s: %s" % (name, wanted, [option.text for option in options]))
        if chosen:
            chosen[0].click()
    check(not form.find_element(By.NAME, "schedule_config.schedule_time").is_enabled(), "training now, the wizard asks no timing")
    shot("training-wizard")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: "/training/new" not in d.current_url and "/training/" in d.current_url)
    completed = eventually(lambda: "completed" in text_or_empty(".run-title .badge"), 120)
    check(completed, "the run the wizard started completes, on its page without a reload: %s" % text_or_empty(".run-title .badge"))


def check_training():
    """The training pages, once a run exists: the cards with their nine stage segments, then the newest run's page with
    its stage list and an SVG chart; neither scrolls sideways at phone width."""
    driver.get(base + "/training")
    wait.until(seen.visibility_of_element_located((By.CSS_SELECTOR, "article.run-card")))
    titles = driver.execute_script(
        "return [...document.querySelector('article.run-card').querySelectorAll('ol.segments li.segment')].map(s => s.title)")
    check(len(titles) == 9, "a run card shows nine stage segments (%d)" % len(titles))
    check(all(titles), "each segment names its stage and status")
    shot("training")

    live(lambda: driver.find_element(By.CSS_SELECTOR, "article.run-card h2 a").click())
    wait.until(seen.url_contains("/training/"))
    wait.until(seen.visibility_of_element_located((By.CSS_SELECTOR, "ol.stage-list li.stage")))
    stages = driver.execute_script("return document.querySelectorAll('ol.stage-list li.stage').length")
    check(stages == 9, "the run page lists its nine stages (%d)" % stages)
    charts = driver.execute_script("return [...document.querySelectorAll('figure.chart svg[role=img]')].filter(c => c.getBoundingClientRect().width > 0).length")
    check(charts > 0, "the run page draws an SVG chart (%d)" % charts)
    check("Rerun" in text_of(".actions"), "an editor may rerun the ended run")
    shot("training-run")

    no_sideways_scroll([driver.current_url, base + "/training"])
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

    no_sideways_scroll([base + "/models"])
    shot("models-phone")
    driver.set_window_size(1280, 900)

    train_with_wizard()
    check_training()

    # The model's page, from the registry's table: its figures and the spec's tabs.
    driver.get(base + "/models")
    wait.until(seen.element_to_be_clickable((By.CSS_SELECTOR, 'a[href="/models/%s"]' % model))).click()
    wait.until(seen.url_contains("/models/" + model))
    check(model in text_of("h1"), "the model's page is titled with its name")
    tabs = driver.execute_script("return [...document.querySelectorAll('nav.tabs a')].map(tab => tab.innerText)")
    check(tabs == ["Overview", "Versions", "Artifacts", "Deployment", "Lineage", "Timeline"], "the model's tabs: %s" % tabs)
    figures = text_of("section.kpis")
    check("Recall@100" in figures and "v2" in figures, "the overview shows the latest version and its Recall@100")
    shot("model")
    live(lambda: driver.find_element(By.LINK_TEXT, "Versions").click())
    wait.until(seen.url_contains("tab=versions"))
    table = text_of("main table")
    check("v1" in table and "Recall@100" in table, "the versions tab compares the versions' metrics")
    shot("model-versions")
    live(lambda: driver.find_element(By.LINK_TEXT, "Lineage").click())
    wait.until(seen.url_contains("tab=lineage"))
    check("Dataset" in text_of("main"), "the lineage tab names the version's dataset")
    shot("model-lineage")

    # Deploy v1 and then v2 from the deployment dashboard: each available version's dialog (the second compares it with
    # the first, serving by then), and watch the endpoint serve them.
    live(lambda: driver.find_element(By.LINK_TEXT, "Deployment").click())
    wait.until(seen.url_contains("tab=deployment"))
    rows = []
    for version in ["1", "2"]:
        wait.until(seen.element_to_be_clickable((By.CSS_SELECTOR, "button[data-open='deploy-v%s']" % version)))
        live(lambda: driver.find_element(By.CSS_SELECTOR, "button[data-open='deploy-v%s']" % version).click())
        wait.until(lambda d: d.execute_script("const x = document.getElementById(arguments[0]); return x && x.open", "deploy-v" + version))
        dialog = driver.find_element(By.ID, "deploy-v" + version)
        if version == "2":
            check("Current (v1)" in dialog.text and "Recall@100" in dialog.text, "the dialog compares v2 with the serving v1: " + dialog.text[:300])
            shot("deploy-dialog")
        endpoint_field = dialog.find_element(By.NAME, "endpoint")
        endpoint_field.clear()
        endpoint_field.send_keys("browser-check")
        if version == "2":
            # Gradually, in steps of three seconds judged without waiting for traffic; the step settings count only
            # for a gradual rollout.
            check(not dialog.find_element(By.NAME, "step_seconds").is_enabled(), "an immediate deploy asks nothing about steps")
            dialog.find_element(By.CSS_SELECTOR, "input[name=strategy][value=gradual]").click()
            dialog.find_element(By.NAME, "step_seconds").send_keys("3")
            dialog.find_element(By.NAME, "min_requests").send_keys("0")
        dialog.find_element(By.XPATH, ".//button[normalize-space(.)='Deploy now']").click()
        # Accepted, the page loads itself again (the dialog goes with the old page).
        wait.until(seen.staleness_of(dialog))
        wait.until(lambda d: d.execute_script("return document.readyState") == "complete" and d.find_elements(By.CSS_SELECTOR, "main tbody tr"))
        if version == "2":
            # The endpoint's page shows the rollout as it goes, without a reload: its steps, done one after another.
            driver.get(base + "/endpoints/browser-check")
            seen_steps = set()
            def rolled_out():
                done = driver.execute_script("return document.querySelectorAll('section.rollout .step.done').length")
                if text_or_empty("section.rollout"):
                    seen_steps.add(done)
                return "v2 · 100%" in text_or_empty(".split") and not text_or_empty("section.rollout")
            finished = eventually(rolled_out, 90, every=0.3)
            check(finished and len(seen_steps) >= 2,
                  "the endpoint's page follows the gradual rollout live, step by step (steps done seen: %s)" % sorted(seen_steps))
            shot("endpoint-rolled-out")
            driver.get(base + "/models/%s?tab=deployment" % model)
        serving = eventually(lambda: any("browser-check" in row and "\tserving" in row and ("v%s 100%%" % version) in row
                                         for row in table_rows()), 90, every=1)
        check(serving, "the deploy from the page serves v%s on browser-check: %s %s" % (version, table_rows(), text_of("#action-error")))
    check("live" in text_of("section.production") and "predictions" in text_of("section.production"),
          "current production shows the live version and today's figures: " + text_of("section.production")[:200])
    check(driver.execute_script("return document.getElementById('action-error').hidden"), "no refusal shown")
    shot("model-deployment")

    # The endpoint's page: its traffic and deployments; roll back to v1 (its revision still runs: instantly).
    live(lambda: driver.find_element(By.LINK_TEXT, "browser-check").click())
    wait.until(seen.url_contains("/endpoints/browser-check"))
    check("v2 · 100%" in text_of(".split"), "the endpoint's page shows the split: " + text_of(".split"))
    shot("endpoint")
    live(lambda: driver.find_element(By.XPATH, "//button[starts-with(normalize-space(.), 'Roll back to v1')]").click())
    wait.until(seen.alert_is_present()).accept()
    rolled = eventually(lambda: "v1 · 100%" in text_or_empty(".split"), 15)
    check(rolled, "the rollback from the page moves the traffic back to v1")
    check(any("rolled_back" in row.replace(" ", "_") or "rolled back" in row for row in table_rows()), "the history shows the rollback")
    shot("endpoint-rolled-back")

    # Its API view: the routes, a request built from the served version's training data, the playground's answer.
    live(lambda: driver.find_element(By.LINK_TEXT, "API").click())
    wait.until(seen.url_contains("tab=api"))
    wait.until(lambda d: "customer_id" in text_of("#curl-example"))
    check("Authorization: Bearer" in text_of("#curl-example") and "requests.post" in text_of("#python-example"),
          "curl and Python snippets with the example request")
    driver.find_element(By.CSS_SELECTOR, "#playground button[type=submit]").click()
    wait.until(lambda d: "predictions" in text_of("#playground-answer") or not d.find_element(By.ID, "playground-error").get_attribute("hidden"))
    answer = text_of("#playground-answer")
    check('"model_version": 1' in answer and "product_ids" in answer, "the playground runs the example: " + answer[:200])
    shot("endpoint-api")

    # A new API key is shown once, on the page.
    driver.find_element(By.LINK_TEXT, "API keys").click()
    wait.until(seen.url_contains("tab=keys"))
    driver.find_element(By.CSS_SELECTOR, "form.action input[name=name]").send_keys("browser-check")
    driver.find_element(By.CSS_SELECTOR, "form.action button[type=submit]").click()
    wait.until(seen.visibility_of_element_located((By.ID, "action-result")))
    check(len(text_of("#new-key")) > 20, "the new key is shown once")
    shot("endpoint-keys")

    # Monitoring: traffic sent with the new key shows in the endpoint's figures; an alert rule made on the page fires
    # on it and is acknowledged there, by this user.
    key, url = text_of("#new-key"), text_of("main p.muted code")
    for index in range(30):
        request = urllib.request.Request(url + "/recommend", data=json.dumps({"customer_id": "C%d" % index, "top_k": 5}).encode(),
                                         headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).read()
    driver.find_element(By.LINK_TEXT, "Monitoring").click()
    wait.until(seen.url_contains("tab=monitoring"))
    check(driver.execute_script("return document.querySelectorAll('figure.chart svg').length") == 3,
          "the monitoring tab draws requests, latency and errors")
    check("Health score" in text_of(".health"), "with the endpoint's health score: " + text_of(".health")[:80])
    form = driver.find_element(By.CSS_SELECTOR, "form[data-api='/api/v1/monitoring/alerts']")
    form.find_element(By.NAME, "name").send_keys("browser-check latency")
    form.find_element(By.NAME, "threshold").send_keys("0")
    seconds = form.find_element(By.NAME, "for_seconds")
    seconds.clear()
    seconds.send_keys("0")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # The rule fires at the evaluator's next pass (every 10 s), and the page follows metrics-svc's events.
    firing = eventually(lambda: any("browser-check latency" in row and "active" in row for row in table_rows()), 30)
    check(firing, "the alert made on the page fires there: %s %s" % (table_rows(), text_of("#action-error")))
    shot("endpoint-alert-firing")
    live(lambda: driver.find_element(By.XPATH, "//tr[contains(., 'browser-check latency')]//button[normalize-space(.)='Acknowledge']").click())
    acknowledged = eventually(
        lambda: any("browser-check latency" in row and "acknowledged by " + username in row for row in table_rows()), 15)
    check(acknowledged, "acknowledging it from the page shows who did: %s" % table_rows())
    shot("endpoint-monitoring")

    # Endpoint tests: one run from the page opens its report; a load test started there draws its seconds as they
    # pass (the page reads itself again while the test runs) and ends completed.
    driver.find_element(By.LINK_TEXT, "Tests").click()
    wait.until(seen.url_contains("tab=tests"))
    driver.find_element(By.XPATH, "//button[normalize-space(.)='Run test']").click()
    wait.until(seen.url_contains("test="))
    report = text_of(".report")
    check("passed" in report and "Answered" in report and "Sample predictions" in report, "the test's report opens: " + report[:200])
    shot("endpoint-test")
    form = driver.find_element(By.CSS_SELECTOR, "form[data-api$='/load-test']")
    for name, value in [("connections", "2"), ("duration_seconds", "4"), ("target_rps", "25")]:
        field = form.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(seen.url_contains("load_test="))
    grew, completed = False, False
    for _ in range(60):
        status = driver.execute_script("const h = document.querySelector('.report h2'); return h ? h.innerText : ''")
        points = driver.execute_script("return document.querySelectorAll('.report svg circle').length")
        if "running" in status and points > 0:
            grew = True
        if "completed" in status:
            completed = True
            break
        time.sleep(0.5)
    check(grew, "while the load test runs, its chart shows the seconds so far")
    check(completed and driver.execute_script("return !!document.querySelector('main').dataset.refreshed"),
          "the load test ends completed on the page without a reload: " + status)
    check(driver.execute_script("return document.querySelectorAll('.report svg circle').length") >= 6, "its chart has every second")
    shot("endpoint-load-test")

    driver.get(base + "/models/%s?tab=deployment" % model)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "main tbody tr"))

    # Live: an undeploy made elsewhere (here by a script of this session, not the page's form) shows on the page
    # without a reload.
    driver.execute_script("""
        window.sameDocument = true;
        fetch("/api/endpoints/browser-check/undeploy", { method: "POST", body: JSON.stringify({ reason: "browser check" }),
          headers: { "Content-Type": "application/json", "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content } });
    """)
    stopped = eventually(lambda: any("browser-check" in row and "not serving" in row for row in table_rows()), 30)
    check(stopped, "the undeploy shows on the page: %s" % table_rows())
    check(driver.execute_script("return window.sameDocument === true && !!document.querySelector('main').dataset.refreshed"),
          "the page showed it without a reload, from the event stream")
    shot("model-undeployed")

    # A retraining schedule made on the model's overview from its latest run; then paused there.
    driver.get(base + "/models/" + model)
    wait.until(seen.visibility_of_element_located((By.CSS_SELECTOR, "form.action")))
    live(lambda: driver.find_element(By.CSS_SELECTOR, "form.action button[type=submit]").click())
    scheduled = eventually(lambda: "Schedule:" in text_or_empty("section.schedule h2"), 30)
    check(scheduled, "the schedule made on the page shows there: %s %s" % (text_or_empty("section.schedule h2"), text_of("main")[-300:]))
    check(driver.execute_script("return document.querySelectorAll('ol.upcoming li').length") > 0, "with its next fire times")
    shot("model-schedule")
    live(lambda: driver.find_element(By.XPATH, "//section[@class='schedule']//button[normalize-space(.)='Pause']").click())
    paused = eventually(lambda: "paused" in text_or_empty("section.schedule h2"), 30)
    check(paused, "pausing it from the page shows it paused")

    # The schedules page lists it; its own page previews a new timing's fire times as it is typed, saves it, and
    # resumes the schedule.
    driver.get(base + "/schedules")
    rows = table_rows()
    check(any(model in row and "paused" in row for row in rows), "the schedules page lists the paused schedule: %s" % rows)
    shot("schedules")
    driver.find_element(By.XPATH, "//tr[contains(., '%s')]//a[starts-with(@href, '/schedules/')]" % model).click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#preview li")) == 5)
    before = text_of("#preview")
    timing = driver.find_element(By.CSS_SELECTOR, "form.timing")
    timing.find_element(By.CSS_SELECTOR, "select[name=schedule_type] option[value=weekly]").click()
    for name, value in [("schedule_time", "09:30"), ("schedule_day_of_week", "2")]:
        field = timing.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    wait.until(lambda d: text_of("#preview") != before and len(d.find_elements(By.CSS_SELECTOR, "#preview li")) == 5)
    check("09:30" in text_of("#preview"), "the form previews the new timing's fire times: " + text_of("#preview").replace("\n", "; "))
    timing.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: "weekly on Wednesday at 09:30" in text_of("dl.props"))
    check(True, "the saved timing shows on the schedule's page")
    live(lambda: driver.find_element(By.XPATH, "//button[normalize-space(.)='Resume']").click())
    wait.until(lambda d: "active" in text_of("h1"))
    check("active" in text_of("h1"), "resumed from its page, the schedule is active")
    shot("schedule")

    # The model's timeline: what this session did, with who did it, among the platform's other events about the model.
    driver.get(base + "/models/%s?tab=timeline" % model)
    events = driver.execute_script("return [...document.querySelectorAll('ol.timeline > li')].map(item => item.innerText)")
    def shown(kind, who=None):
        return any(kind in item and (who is None or "by " + who in item) for item in events)
    check(shown("Deployment requested", username) and shown("Alert acknowledged", username) and shown("Schedule paused", username),
          "the timeline shows this session's deployments, its acknowledged alert and its paused schedule, by %s" % username)
    check(shown("Training run completed") and shown("Model version registered") and shown("Endpoint test completed"),
          "and the model's runs, versions and endpoint tests: %s" % [item.split("\n")[0] for item in events[:8]])
    shot("model-timeline")
    driver.find_element(By.XPATH, "//nav[@aria-label='Contexts']/a[normalize-space(.)='Deployment']").click()
    wait.until(seen.url_contains("context=deploy"))
    contexts = set(driver.execute_script("return [...document.querySelectorAll('ol.timeline .badge.context')].map(badge => badge.innerText)"))
    check(contexts == {"Deployment"}, "filtered to deployment, it shows deployment's events only: %s" % contexts)

    # The newer pages at phone width.
    no_sideways_scroll([base + page for page in [
        "/endpoints/browser-check?tab=monitoring", "/endpoints/browser-check?tab=tests", "/models/%s?tab=deployment" % model,
        "/models/%s?tab=timeline" % model, "/schedules", "/training/new"]])
    shot("monitoring-phone")
    driver.set_window_size(1280, 900)

    # The API reference renders every route.
    driver.get(base + "/docs")
    status = wait.until(lambda d: d.find_element(By.ID, "status") if "routes." in d.find_element(By.ID, "status").text else False)
    check(int(status.text.split(" ")[0]) > 100, "the API reference lists the routes: " + status.text)
    shot("docs")
    # The prediction API's reference, reached from the platform's: its five routes, each with a curl command.
    driver.find_element(By.ID, "prediction-api").click()
    status = wait.until(lambda d: d.find_element(By.ID, "status") if "routes." in d.find_element(By.ID, "status").text else False)
    check(status.text.startswith("5 routes."), "the prediction API's reference lists its routes: " + status.text)
    recommend = driver.find_element(By.ID, "recommend")
    recommend.find_element(By.TAG_NAME, "summary").click()
    check("/recommend" in recommend.find_element(By.CSS_SELECTOR, "pre.result").text, "with a curl command per route")
    shot("docs-prediction")

    # Logging out ends the session: the page sends the browser to the login again.
    driver.get(base + "/models")
    wait.until(seen.element_to_be_clickable((By.ID, "logout"))).click()
    wait.until(seen.url_contains("/login"))
    driver.get(base + "/models")
    wait.until(seen.url_contains("/login"))
    check("/login" in driver.current_url, "after logging out, pages need a login again")
except Exception:
    # What the page showed when a step gave up: its address, text and a screenshot.
    print("FAIL at %s; the page says:\n%s" % (driver.current_url, driver.execute_script("return document.body.innerText")[:3000]), flush=True)
    for path in ["/api/models/%s/endpoints" % model, "/api/models/%s/deployments" % model]:
        print(path, driver.execute_async_script(
            "const done = arguments[1]; fetch(arguments[0]).then(async r => done(r.status + ' ' + (await r.text()).slice(0, 1500)))", path), flush=True)
    shot("failure")
    raise
finally:
    driver.quit()

print("RESULT browser_checks_failed=%d" % len(failures))
sys.exit(1 if failures else 0)

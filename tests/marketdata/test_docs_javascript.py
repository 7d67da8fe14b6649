"""The upstream docs' JavaScript REST example, run by Node against the gateway, unchanged
but for its base URL and key. Skipped where no Node 18+ (global fetch) is installed."""

import shutil
import subprocess

import pytest

NODE = shutil.which("node")


def node_major() -> int:
    if NODE is None:
        return 0
    out = subprocess.run([NODE, "--version"], capture_output=True, text=True)
    return int(out.stdout.strip().lstrip("v").split(".")[0] or 0)


pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        node_major() < 18,
        reason="needs Node 18 or later on PATH (the example uses the global fetch)",
    ),
]

# From ../shared/upstream-docs/insightsentry-api.md, "JavaScript Examples", "REST API -
# Fetch Historical Data", verbatim but for the two constants at the top.
EXAMPLE = """
const API_KEY = "your_api_key";
const BASE_URL = "https://api.insightsentry.com";

async function fetchHistoricalData(symbol, barType = "minute", barInterval = 1, dataPoints = 1000) {
  const url = `${BASE_URL}/v3/symbols/${symbol}/series`;
  const params = new URLSearchParams({
    bar_type: barType,
    bar_interval: barInterval,
    data_points: dataPoints
  });

  const response = await fetch(`${url}?${params}`, {
    headers: {
      "Authorization": `Bearer ${API_KEY}`
    }
  });

  if (!response.ok) {
    throw new Error(`HTTP error! status: ${response.status}`);
  }

  return await response.json();
}

// Example usage
fetchHistoricalData("NASDAQ:AAPL", "minute", 1)
  .then(data => console.log(`Fetched ${data.series.length} data points`))
  .catch(error => console.error(error));
"""


def run_example(base_url: str, key: str) -> subprocess.CompletedProcess:
    script = EXAMPLE.replace('"your_api_key"', f'"{key}"').replace(
        '"https://api.insightsentry.com"', f'"{base_url}"'
    )
    return subprocess.run(
        [NODE, "-e", script], capture_output=True, text=True, timeout=60
    )


def test_the_docs_javascript_example_runs_unchanged(web, member_key):
    done = run_example(web.url, member_key("js", "pro"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Fetched 1000 data points", done.stderr


def test_with_a_bad_key_the_example_reports_the_http_error(web):
    done = run_example(web.url, "not-a-gateway-key")
    assert "HTTP error! status: 401" in done.stderr

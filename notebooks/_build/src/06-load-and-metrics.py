# %% [markdown]
# # 06 · Load and metrics
#
# *Takes about 32 s on the local cluster when run top to bottom (measured on 2 cores), plus your time to read, type and do the exercise.*
#
# The guide's load test (100 concurrent registrations) with the size as a parameter, then the
# registry's heartbeat path, with the latencies and the Prometheus metrics analysed in pandas.
#
# **What you will learn**
# - what the guide's `test_registry_load.py` measures, and what it leaves out (latency percentiles,
#   the heartbeat path agents really use every few seconds);
# - scraping Prometheus text into a tidy DataFrame, sampling it over time, and plotting rates;
# - reading a latency distribution: p50, p95, p99, and why the tail matters.
#
# The analysis also runs **offline**: with `offline = True` it reads the saved CSV in
# `notebooks/data/` and needs no cluster.

# %% tags=["parameters"]
cluster = "local"
namespace = "mcp-mesh"
image = "mcp-mesh/registry:dev"
rollout_timeout = 180
register_requests = 100  # the 100 registrations of the guide
heartbeat_requests = 200
concurrency = 50
sample_every = 1.0  # seconds between metric scrapes while the load runs
offline = False  # True: skip the cluster, analyse the saved CSV below
saved_csv = "load-register-sample.csv"  # under notebooks/data/
cleanup = True  # unregister the agents of the load test
solutions = False  # True: the exercises' solutions run too (the test suite does)

# %%
import concurrent.futures
import contextlib

import matplotlib.pyplot as plt
import pandas as pd

import labkit as lk

DATA = lk.NOTEBOOKS / "data"
if not offline:
    lab = lk.connect(cluster=cluster, namespace=namespace)
    STATEFULSET = "statefulset/mcp-mesh-registry"
    lk.setup_dev_registry(lab, image, timeout=rollout_timeout)  # lessons 00-02's registry (idempotent)
    forwards = contextlib.ExitStack()
    url = forwards.enter_context(lab.port_forward("svc/mcp-mesh-registry", 8000))
    lk.check(lk.RegistryClient(url).ready(), f"the registry is ready at {url}")
else:
    lk.check((DATA / saved_csv).is_file(), f"offline: analysing {saved_csv}")

# %% [markdown]
# ## 1. The guide's load test: concurrent registrations, with metrics sampled meanwhile
# The sampler scrapes `/metrics` every `sample_every` seconds in a background thread while the load
# runs, so the counters can be turned into rates afterwards.

# %%
if not offline:
    lk.show("python test_registry_load.py   # the guide's script: 100 concurrent POST /agents")
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        sampling = pool.submit(lk.sample_metrics, url, every=sample_every, duration=max(5.0, 3 * sample_every))
        registration = lk.load_test(url, n=register_requests, concurrency=concurrency, kind="register")
        samples = sampling.result()
    df = registration.df
    summary = registration.summary
else:
    df = pd.read_csv(DATA / saved_csv)
    duration = (df["started"] + df["latency_s"]).max() - df["started"].min()
    summary = {
        "requests": len(df),
        "duration_s": duration,
        "throughput_rps": len(df) / duration,
        "p50_ms": df["latency_s"].quantile(0.50) * 1000,
        "p95_ms": df["latency_s"].quantile(0.95) * 1000,
        "p99_ms": df["latency_s"].quantile(0.99) * 1000,
        "success_rate": df["ok"].mean(),
    }
print(f"Registered {summary['requests']} agents in {summary['duration_s']:.2f}s")
print(f"Success rate: {summary['success_rate'] * 100:.1f}%")
display(pd.Series(summary, name="registration").to_frame())
lk.check(summary["success_rate"] == 1.0, "every registration succeeded (the guide's success rate: 100%)")
lk.record("load_requests", int(summary["requests"]))
lk.record("load_success_rate", float(summary["success_rate"]))
lk.record("load_p95_ms", round(float(summary["p95_ms"]), 2))
lk.record("load_throughput_rps", round(float(summary["throughput_rps"]), 1))

# %% [markdown]
# ## 2. The latency distribution
# An average hides the tail. The histogram and the latency of each request over the run show
# whether a few requests waited much longer than the rest (queueing behind the concurrency).

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
(df["latency_s"] * 1000).plot.hist(bins=30, ax=left, title="registration latency (ms)")
for q in (0.5, 0.95, 0.99):
    left.axvline(df["latency_s"].quantile(q) * 1000, linestyle="--", color="black", linewidth=0.8)
right.scatter(df["started"], df["latency_s"] * 1000, s=6)
right.set(title="latency by start time", xlabel="s since start", ylabel="ms")
plt.tight_layout()
plt.show()
percentiles = (df["latency_s"].quantile([0.5, 0.9, 0.95, 0.99]) * 1000).round(2)
display(percentiles.rename("ms").to_frame())
lk.check(percentiles.is_monotonic_increasing, "p50 ≤ p90 ≤ p95 ≤ p99")

# %%
if not offline:
    path = DATA.parent.parent / "runs" / "load-register-latest.csv"
    path.parent.mkdir(exist_ok=True)
    df[["started", "latency_s", "status", "ok"]].to_csv(path, index=False)
    print(f"saved this run to {path} (copy it to notebooks/data/ to refresh the offline sample)")

# %% [markdown]
# ## 3. The heartbeat path
# Registered agents send a heartbeat every few seconds; that, not registration, is the registry's
# steady load. A full heartbeat is `POST /heartbeat`.

# %%
if not offline:
    heartbeats = lk.load_test(url, n=heartbeat_requests, concurrency=concurrency, kind="heartbeat")
    comparison = pd.DataFrame({"register": registration.summary, "heartbeat": heartbeats.summary})
    display(comparison)
    lk.check(heartbeats.summary["success_rate"] == 1.0, "every heartbeat succeeded")
    lk.record("heartbeat_success_rate", float(heartbeats.summary["success_rate"]))
    lk.record("heartbeat_p95_ms", round(float(heartbeats.summary["p95_ms"]), 2))

# %% [markdown]
# ## 4. The registry's own metrics
# `lk.scrape_metrics` turns the Prometheus text into one row per sample, with the labels as columns.

# %%
if not offline:
    lk.show(f"curl {url}/metrics | grep mcp_")
    metrics = lk.scrape_metrics(url)
    display(metrics[metrics["name"].str.startswith("mcp_registry_")].head(15))
    agents_total = metrics[metrics["name"] == "mcp_registry_agents_total"]["value"].sum()
    requests = metrics[metrics["name"] == "mcp_registry_requests_total"]
    display(requests.groupby([c for c in ("method", "route", "status") if c in requests.columns])["value"].sum().to_frame())
    lk.check(agents_total >= register_requests, f"mcp_registry_agents_total counts {agents_total:.0f} agents")
    lk.record("agents_total_metric", float(agents_total))

# %%
if not offline:
    lk.plot_metrics(samples, "mcp_registry_requests_total")
    plt.show()
    lk.check(samples["timestamp"].nunique() >= 2, f"{samples['timestamp'].nunique()} metric samples taken during the load")

# %% [markdown]
# ## Summary
# - the guide's 100 concurrent registrations, all successful, with p50/p95/p99 instead of one number;
# - heartbeats, the registry's real steady load, measured the same way;
# - the registry's counters read back from `/metrics` and plotted over time.

# %% [markdown]
# ## Exercise: the slowest one percent
# From `df` (one row per request, `latency_s` in seconds), compute the 99th percentile latency of the
# registrations in milliseconds and put it in `p99_ms`. (Works offline too.)

# %%
p99_ms = None  # your answer

# %% tags=["solution"]
if solutions:
    p99_ms = float(df["latency_s"].quantile(0.99) * 1000)

# %%
with lk.exercise("the slowest one percent", required=solutions):
    wanted = float(df["latency_s"].quantile(0.99) * 1000)
    lk.check(p99_ms is not None and abs(float(p99_ms) - wanted) < 0.5, f"p99 is {wanted:.1f} ms",
             "df['latency_s'].quantile(0.99), in milliseconds")

# %% [markdown]
# ## Cleanup

# %%
if not offline:
    if cleanup:
        reg = lk.RegistryClient(url)
        for agent in reg.agents():
            if agent["id"].startswith("test-agent"):
                reg.unregister(agent["id"])
        # Unregistering marks an agent unhealthy (as the real registry does); the purge after
        # AGENT_RETENTION removes it for good.
        left = [a["id"] for a in reg.agents() if a["id"].startswith("test-agent") and a["status"] == "healthy"]
        lk.check(not left, "load-test agents unregistered (unhealthy until the retention purge)")
    forwards.close()

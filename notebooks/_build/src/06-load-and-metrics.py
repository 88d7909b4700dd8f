# %% [markdown]
# # 06 · Load and metrics, through Prometheus
#
# *Takes about 3 min (184 s) on the local cluster when run top to bottom (measured on 2 cores), plus your time to read, type and do the exercise.*
#
# The guide's best practice "Enable Monitoring: export metrics for Prometheus", done for real: a
# Prometheus server in the lab's namespace discovers the registry pods through the Kubernetes API and
# scrapes them every 5 s, while the guide's load test runs. Then the lesson asks Prometheus, in PromQL,
# what it saw, and analyses the answers in pandas.
#
# **What you will learn**
# - how Prometheus finds pods (`kubernetes_sd_configs`), and how to see its targets;
# - `rate()` and `histogram_quantile()` over a range query, as tidy DataFrames;
# - why the load generator's latencies and the registry's own histogram differ, and what each measures;
# - what `mcp_registry_leader` shows across a failover, and whether the no-leader alert fires.
#
# The analysis also runs **offline**: with `offline = True` it reads the saved Prometheus answers in
# `notebooks/data/` and needs no cluster.

# %% tags=["parameters"]
cluster = "local"
namespace = "mcp-mesh"
image = "mcp-mesh/registry:dev"
rollout_timeout = 180
register_requests = 100  # the 100 registrations of the guide
heartbeat_requests = 1000  # agents that heartbeat
heartbeat_seconds = 20  # how long they go on re-posting, so the 5-s scrapes draw a curve
concurrency = 50
scrape_timeout = 60  # seconds for Prometheus to scrape every registry pod
failover_section = True  # the HA section: three replicas, a crash, the leader flag in Prometheus
replicas = 3
lease_name = "mcp-mesh-registry-leader"
failover_timeout = 90
offline = False  # True: skip the cluster, analyse the saved data sets below
data_dir = ""  # where the data sets are read and written; empty: notebooks/data/
dataset = "load-queries.json"
failover_dataset = "failover-queries.json"
save_dataset = False  # True: write this run's answers there (labkit run --only 06 -p save_dataset true)
cleanup = True  # remove Prometheus and the load's agents, back to the dev registry
solutions = False  # True: the exercises' solutions run too (the test suite does)

# %%
import contextlib
import time
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

import labkit as lk
from labkit import failover, monitoring, query_sets

DATA = Path(data_dir) if data_dir else lk.NOTEBOOKS / "data"
STATEFULSET = "statefulset/mcp-mesh-registry"
SELECTOR = "app.kubernetes.io/name=mcp-mesh-registry"
IMAGES = {"mcp-mesh/registry": image}
if not offline:
    lab = lk.connect(cluster=cluster, namespace=namespace)
    lk.setup_dev_registry(lab, image, timeout=rollout_timeout)  # lessons 00-02's registry (idempotent)
    forwards = contextlib.ExitStack()
    url = forwards.enter_context(lab.port_forward("svc/mcp-mesh-registry", 8000))
    lk.check(lk.RegistryClient(url).ready(), f"the registry is ready at {url}")
else:
    saved = query_sets.SavedQueries(DATA / dataset)
    lk.check(bool(saved.queries), f"offline: analysing {saved}")

# %% [markdown]
# ## 1. Prometheus in the namespace
# `manifests/monitoring/` is a Kustomization: a ServiceAccount with a Role that may only get, list and
# watch pods, endpoints and services here; a ConfigMap with `prometheus.yml` and the registry's alert
# and recording rules (`registry-rules.yml`); the Deployment and its Service. Prometheus asks the API
# server for the pods labelled `app.kubernetes.io/name=mcp-mesh-registry` and scrapes each one's port
# named `metrics`, so a new replica is scraped without anyone editing a file.

# %%
if not offline:
    lk.show("kubectl apply -k manifests/monitoring")
    applied = monitoring.deploy_prometheus(lab, timeout=rollout_timeout)
    print(applied)
    prom = forwards.enter_context(monitoring.prometheus(lab))
    targets = prom.wait_for_targets(monitoring.SCRAPE_JOB, count=1, timeout=scrape_timeout)
    display(targets[["job", "instance", "health", "last_scrape", "last_error"]])
    lk.check(set(targets["health"]) == {"up"}, f"Prometheus scrapes {len(targets)} registry pod(s), all up")
    lk.record("prometheus_targets_up", int((targets["health"] == "up").sum()))

# %% [markdown]
# Try it in the terminal: forward Prometheus's port and open http://localhost:9090/targets in a browser
# tab, or ask its API with curl.

# %%
if not offline:
    lk.try_port_forward_in_terminal(lab, "svc/prometheus", 9090, "/api/v1/targets?state=active", expect=r'"health":"up"')

# %% [markdown]
# ## 2. The load, while Prometheus scrapes
# Prometheus computes a rate from the difference between two scrapes of a counter, and a counter's
# series is born at its first increment: a route first used in the middle of the load would lose its
# first count. So one request of each kind goes first, and the load starts after a scrape has seen it.
#
# The load generator runs here in the kernel (aiohttp, `concurrency` connections) through the guide's
# `kubectl port-forward`: the guide's 100 concurrent registrations, then `heartbeat_requests` agents
# sending full heartbeats (`POST /heartbeat`) again and again for `heartbeat_seconds`.

# %%
if not offline:
    lk.show("kubectl port-forward svc/mcp-mesh-registry 8000:8000 &")
    load_url = forwards.enter_context(lk.kubectl_port_forward(lab, "svc/mcp-mesh-registry", 8000))
    lk.load_test(load_url, n=1, concurrency=1, kind="register", prefix="warm-up", progress=False)
    lk.load_test(load_url, n=1, concurrency=1, kind="heartbeat", prefix="warm-up", progress=False)
    monitoring.wait_for_scrape_after(prom, time.time(), timeout=scrape_timeout)
    lk.sleep(query_sets.SCRAPE_SECONDS, "one query step past that scrape, so the range's last sample before the load has it")

    lk.show("python test_registry_load.py   # the guide's script: 100 concurrent POST /agents")
    started = time.time()
    registration = lk.load_test(load_url, n=register_requests, concurrency=concurrency, kind="register")
    heartbeats = lk.sustained_load(load_url, n=heartbeat_requests, concurrency=concurrency, kind="heartbeat",
                                   seconds=heartbeat_seconds)
    ended = time.time()
    client = pd.concat([registration.df.assign(kind="register"), heartbeats.df.assign(kind="heartbeat")])
    summaries = pd.DataFrame({"register": registration.summary, "heartbeat": heartbeats.summary})
    window = query_sets.QueryWindow.around(started, ended, margin=3 * query_sets.SCRAPE_SECONDS)
    queries = {**query_sets.LOAD_QUERIES, **query_sets.over_load_queries(ended - started)}
    monitoring.wait_for_scrape_after(prom, window.end, timeout=scrape_timeout + window.end - time.time())
    source: query_sets.RangeSource = prom
    if save_dataset:
        kept = client[["kind", "started", "latency_s", "status", "ok"]].round({"started": 4, "latency_s": 6})
        about = {"started": started, "ended": ended, "client": kept.to_dict(orient="list"), "summaries": summaries.to_dict()}
        print("saved", query_sets.save_queries(prom, window, DATA / dataset, queries, about=about))
else:
    source, window, queries = saved, saved.window, saved.queries
    started, ended = saved.about["started"], saved.about["ended"]
    client = pd.DataFrame(saved.about["client"])
    summaries = pd.DataFrame(saved.about["summaries"])
display(summaries)
register_summary = summaries["register"]
print(f"Registered {register_summary['requests']} agents in {float(register_summary['duration_s']):.2f}s")
print(f"Success rate: {float(register_summary['success_rate']) * 100:.1f}%")
lk.check(float(register_summary["success_rate"]) == 1.0, "every registration succeeded (the guide's success rate: 100%)")
lk.check(float(summaries["heartbeat"]["success_rate"]) == 1.0, "every heartbeat succeeded")
lk.record("load_requests", int(register_summary["requests"]))
lk.record("load_success_rate", float(register_summary["success_rate"]))
lk.record("heartbeat_success_rate", float(summaries["heartbeat"]["success_rate"]))
lk.record("load_p95_ms", round(float(register_summary["p95_ms"]), 2))
lk.record("load_throughput_rps", round(float(register_summary["throughput_rps"]), 1))
lk.record("heartbeat_throughput_rps", round(float(summaries["heartbeat"]["throughput_rps"]), 1))

# %% [markdown]
# ## 3. PromQL into DataFrames
# Each query below is a **range query** over the load's window, every 5 s. `query_sets.frames` asks them
# all and answers one tidy frame per query: a column per label, `timestamp`, `value`. The same code reads
# a live Prometheus or the saved data set.
#
# | name | PromQL |
# |---|---|
# | requests per route | `sum by (route) (rate(mcp_registry_requests_total[30s]))` |
# | p50, p99 per route | `histogram_quantile(0.99, sum by (route, le) (rate(..._bucket[30s])))` |
#
# A rate over 30 s is an average over the 30 s before each point: the curve lags the load and its peak
# stays below the rate the load really had, unless the load lasts longer than the window.
# | requests per pod | `sum by (pod) (rate(mcp_registry_requests_total[30s]))` |
# | agents by status | `sum by (status) (mcp_registry_agents)` |

# %%
answers = query_sets.frames(source, window, queries)
for name, frame in answers.items():
    print(f"{name}: {len(frame)} samples")
display(answers["requests_per_route"].tail())
lk.check(not answers["requests_per_route"].empty, "Prometheus answered the request rate over the load")

# %%
def plot_by(frame: pd.DataFrame, label: str, ax: plt.Axes, title: str, scale: float = 1.0) -> None:
    """One line per value of label over time, the load's span shaded."""
    wide = frame.pivot_table(index="timestamp", columns=label, values="value") * scale
    wide.plot(ax=ax, title=title, marker=".")
    ax.axvspan(pd.Timestamp(started, unit="s", tz="UTC"), pd.Timestamp(ended, unit="s", tz="UTC"), alpha=0.1)


LOADED_ROUTES = ["/agents", "/heartbeat"]
quantiles = pd.concat([answers["p50_seconds"].assign(q="p50"), answers["p99_seconds"].assign(q="p99")])
quantiles = quantiles[quantiles["route"].isin(LOADED_ROUTES)].assign(series=lambda f: f["q"] + " " + f["route"])
fig, axes = plt.subplots(2, 2, figsize=(12, 7))
plot_by(answers["requests_per_route"], "route", axes[0, 0], "requests/s per route (rate over 30s)")
plot_by(quantiles, "series", axes[0, 1], "p50 and p99 per route (ms, from the histogram)", 1000)
axes[0, 1].set_yscale("log")
plot_by(answers["requests_per_pod"], "pod", axes[1, 0], "requests/s per pod")
plot_by(answers["agents_by_status"], "status", axes[1, 1], "agents by status")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Did Prometheus count every request?
# The raw counter `mcp_registry_requests_total` read just before the load and one scrape after it,
# against what the load generator sent: a counter is exact, so the two must agree. (`increase()` would
# not do here: it extrapolates to the edges of its range, so it reads a little more than happened.)

# %%
counted_by_route = query_sets.count_between(answers["post_requests_by_route_total"], started, ended + query_sets.SCRAPE_SECONDS)
display(counted_by_route.to_frame("counted by Prometheus"))
sent_registrations = int(register_summary["requests"])
lk.check(counted_by_route.get("/agents", 0) == sent_registrations,
         f"Prometheus counted {counted_by_route.get('/agents', 0):.0f} POST /agents, the load sent {sent_registrations}",
         "a count off by one or two: a scrape missed the first increment of a new series")
lk.record("prometheus_counted_registrations", int(counted_by_route.get("/agents", 0)))

# %% [markdown]
# ## 5. The client's latencies and the registry's histogram
# The load generator times each request from sending to the last byte of the answer: the kernel's event
# loop, the port-forward (kubectl → the API server → the kubelet → the pod), the registry's queue, and
# the handler. The registry's histogram `mcp_registry_request_duration_seconds` times only the handler,
# inside the pod. The gap between the two is what the path costs, not the registry.
#
# What the path cost when this lesson was written (local cluster, 2 cores, 1,000 heartbeats at 50
# connections): the registry's handler about 1 ms per heartbeat; through `kubectl port-forward` the client
# saw a p50 of 60-80 ms at 500-750 requests/s; through a forward that opens one API stream per new
# connection, a p99 of 2.5 s (the last of 50 connections waited for the 49 streams before it). And the
# client matters: on loopback, without Kubernetes, this generator on httpx managed 150-200 requests/s
# where aiohttp (what `lk.load_test` uses) and `wrk` reach 1,100-1,700.
#
# The histogram's quantile is an estimate: `histogram_quantile` interpolates inside the bucket the
# quantile falls in, so it is only as fine as the buckets (`0.0001 … 10` s here).

# %%
server_p50 = query_sets.sample_after(answers["server_p50_over_load"], ended + query_sets.SCRAPE_SECONDS)
server_p99 = query_sets.sample_after(answers["server_p99_over_load"], ended + query_sets.SCRAPE_SECONDS)
routes = {"register": "/agents", "heartbeat": "/heartbeat"}
comparison = pd.DataFrame(
    {
        kind: {
            "client p50 ms": client[client["kind"] == kind]["latency_s"].quantile(0.5) * 1000,
            "client p99 ms": client[client["kind"] == kind]["latency_s"].quantile(0.99) * 1000,
            "registry p50 ms": server_p50.set_index("route")["value"].get(route, float("nan")) * 1000,
            "registry p99 ms": server_p99.set_index("route")["value"].get(route, float("nan")) * 1000,
        }
        for kind, route in routes.items()
    }
).round(2)
display(comparison)
fig, ax = plt.subplots(figsize=(7, 3))
comparison.T.plot.bar(ax=ax, logy=True, title="client vs registry latency (ms, log scale)", rot=0)
plt.tight_layout()
plt.show()
heartbeat = comparison["heartbeat"]
lk.check(heartbeat["registry p50 ms"] <= heartbeat["client p50 ms"],
         f"heartbeat p50: {heartbeat['registry p50 ms']:.1f} ms in the registry, {heartbeat['client p50 ms']:.1f} ms at the client",
         "the client's time includes the registry's: it cannot be smaller")
lk.record("heartbeat_client_p50_ms", round(float(heartbeat["client p50 ms"]), 2))
lk.record("heartbeat_registry_p50_ms", round(float(heartbeat["registry p50 ms"]), 2))
lk.record("heartbeat_registry_p99_ms", round(float(heartbeat["registry p99 ms"]), 2))

# %% [markdown]
# ## 6. The guide's metric names
# The guide names three metrics; the registry exports them as spelled. One breaks a Prometheus
# convention: `mcp_registry_agents_total` ends in `_total`, which promises a counter, yet it is the
# number of agents now, a gauge that goes down. So the registry exports the conventional
# `mcp_registry_agents{status=...}` beside it, and the queries above use that one.

# %%
if not offline:
    names = set(prom.metric_names())
    guide_names = ["mcp_registry_agents_total", "mcp_registry_requests_total", "mcp_registry_request_duration_seconds_bucket"]
    display(pd.Series({name: name in names for name in [*guide_names, "mcp_registry_agents"]}, name="scraped").to_frame())
    agents_now = prom.query('sum(mcp_registry_agents_total{job="mcp-registry"})')["value"].sum()
    lk.check(agents_now >= register_requests, f"mcp_registry_agents_total: {agents_now:.0f} agents")
    lk.record("agents_total_metric", float(agents_now))

# %% [markdown]
# ## 7. The leader flag across a failover
# Lesson 04's scenario, seen by Prometheus: three replicas under leader election, the leader's pod
# killed without a grace period. Each replica exports `mcp_registry_leader` (1 while it leads). The
# rule `McpRegistryNoLeader` fires when no replica has led for longer than one lease (15 s): a plain
# crash failover takes about that long, so whether it fires depends on how quickly a new pod leads.

# %%
if not offline and failover_section:
    lk.show("kubectl delete statefulset mcp-mesh-registry && kubectl apply -f manifests/registry-ha.yaml")
    lab.delete(STATEFULSET)
    lab.apply(lk.MANIFESTS / "registry-ha.yaml", images=IMAGES, namespace=namespace)
    lab.wait_for(lambda: failover.leader_ready(lab, replicas, lease_name, SELECTOR), timeout=rollout_timeout)
    prom.wait_for_targets(monitoring.SCRAPE_JOB, count=replicas, timeout=scrape_timeout)
    monitoring.wait_for_scrape_after(prom, time.time(), timeout=scrape_timeout)
    crash_started = time.time()
    lk.show(f"kubectl delete pod {lab.lease_holder(lease_name)} --grace-period=0 --force")
    crash = failover.measure_failover(
        lab, lease_name, grace_period=0, timeout=failover_timeout,
        serving=failover.ready_probe(url), agents_back=lambda: True,
    )
    print(crash)
    crash_window = query_sets.QueryWindow.around(crash_started, crash_started + crash["leader_s"], margin=30, step=1)
    monitoring.wait_for_scrape_after(prom, crash_window.end, timeout=scrape_timeout + crash_window.end - time.time())
    failover_source: query_sets.RangeSource = prom
    if save_dataset:
        print("saved", query_sets.save_queries(prom, crash_window, DATA / failover_dataset, query_sets.LEADER_QUERIES,
                                               about={"crash_started": crash_started, "crash": crash}))
elif offline:
    saved_failover = query_sets.SavedQueries(DATA / failover_dataset)
    failover_source, crash_window = saved_failover, saved_failover.window
    crash_started, crash = saved_failover.about["crash_started"], saved_failover.about["crash"]

# %%
if offline or failover_section:
    leadership = query_sets.frames(failover_source, crash_window, query_sets.LEADER_QUERIES)
    gap = query_sets.leaderless_seconds(leadership["leaders"], crash_window.step)
    alert_states = sorted(set(leadership["no_leader_alert"].get("alertstate", [])))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True)
    leadership["leader_per_pod"].pivot_table(index="timestamp", columns="pod", values="value").plot(
        ax=top, drawstyle="steps-post", title="mcp_registry_leader per pod")
    leadership["leaders"].set_index("timestamp")["value"].plot(ax=bottom, drawstyle="steps-post", title="replicas leading")
    bottom.axvline(pd.Timestamp(crash_started, unit="s", tz="UTC"), color="red", linestyle="--", label="leader killed")
    bottom.legend()
    plt.tight_layout()
    plt.show()
    print(f"new leader {crash['new']} after {crash['leader_s']:.1f}s; Prometheus saw no leader for about {gap:.0f}s; "
          f"McpRegistryNoLeader: {', '.join(alert_states) or 'never pending'}")
    # A gap shorter than a scrape interval (5 s) can fall between two scrapes and show as none at all:
    # that is what the alert's `for: 15s` is for, and why it should not fire on a quick failover.
    print(f"Prometheus saw {gap:.0f}s with no replica leading" if gap else "the gap fell between two scrapes")
    lk.check(gap <= crash["leader_s"] + 2 * query_sets.SCRAPE_SECONDS,
             f"the gap Prometheus saw ({gap:.0f}s) fits the failover the lesson timed ({crash['leader_s']:.1f}s)")
    lk.record("no_leader_seconds", gap)
    lk.record("no_leader_alert_states", alert_states)

# %%
if not offline and failover_section:
    lk.show("kubectl delete statefulset mcp-mesh-registry && kubectl apply -f manifests/registry-statefulset-dev.yaml")
    lk.setup_dev_registry(lab, image, timeout=rollout_timeout)
    lk.check(lk.RegistryClient(url).ready(), "back on the one-replica dev registry")

# %% [markdown]
# ## Summary
# - Prometheus runs beside the registry, finds its pods through the API server, and scrapes them;
# - the guide's load, read back in PromQL: rates per route and per pod, p50 and p99 from the histogram,
#   agents by status, and an exact count of the requests;
# - the client's latency is the registry's plus the path to it: the histogram shows which is which;
# - across a crash, `mcp_registry_leader` shows the leaderless gap the alert rule watches for.

# %% [markdown]
# ## Exercise: the slowest one percent, both ways
# From `client` (one row per request: `kind`, `latency_s` in seconds), compute the 99th percentile of the
# heartbeats' latency in milliseconds and put it in `p99_ms`. Then compare it with `comparison`'s
# `registry p99 ms`. (Works offline too.)

# %%
p99_ms = None  # your answer

# %% tags=["solution"]
if solutions:
    p99_ms = float(client[client["kind"] == "heartbeat"]["latency_s"].quantile(0.99) * 1000)

# %%
with lk.exercise("the slowest one percent", required=solutions):
    wanted = float(client[client["kind"] == "heartbeat"]["latency_s"].quantile(0.99) * 1000)
    lk.check(p99_ms is not None and abs(float(p99_ms) - wanted) < 0.5, f"p99 is {wanted:.1f} ms",
             "client[client['kind'] == 'heartbeat']['latency_s'].quantile(0.99), in milliseconds")

# %% [markdown]
# ## Cleanup

# %%
if not offline:
    if cleanup:
        lk.show("kubectl delete -k manifests/monitoring")
        monitoring.remove_prometheus(lab)
        reg = lk.RegistryClient(url)
        for agent in reg.agents():
            if agent["id"].startswith(("test-agent", "warm-up")):
                reg.unregister(agent["id"])
        # Unregistering marks an agent unhealthy (as the real registry does); the purge after
        # AGENT_RETENTION removes it for good.
        left = [a["id"] for a in reg.agents() if a["id"].startswith("test-agent") and a["status"] == "healthy"]
        lk.check(not left, "load-test agents unregistered (unhealthy until the retention purge)")
        lk.check(not lab.exists("deployment/prometheus"), "Prometheus removed; the registry stays")
    forwards.close()

"""The words of the Markdown, HTML and PNG reports in English and Chinese: one catalog, every
user-visible string of those reports taken from it by key (`Messages(lang)(key, **values)`).
Numbers, names and the monitors' own basis notes are data, not words, and stay as stored.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")

# key → (English, Chinese); {name} fields are filled by the caller.
CATALOG: dict[str, tuple[str, str]] = {
    "report.title": ("llmbench report: {title}", "llmbench 测试报告：{title}"),
    "report.generated_from": (
        "Rebuilt from the stored results in {directory} alone.",
        "完全由 {directory} 中保存的结果重新生成。",
    ),
    "report.warnings": ("Warnings", "警告"),
    "report.charts": ("Charts", "图表"),
    # environment
    "env.title": ("Test environment", "测试环境配置"),
    "env.item": ("item", "项目"),
    "env.value": ("value", "值"),
    "env.llmbench": ("llmbench", "llmbench 版本"),
    "env.cpu": ("CPU", "CPU"),
    "env.cores": (
        "{logical} logical, {physical} physical cores",
        "{logical} 逻辑核，{physical} 物理核",
    ),
    "env.cores_item": ("cores", "核数"),
    "env.memory": ("memory", "内存"),
    "env.os": ("operating system", "操作系统"),
    "env.python": ("Python", "Python"),
    "env.gpu": ("GPU", "GPU"),
    "env.gpu_none": ("none ({reason})", "无（{reason}）"),
    "env.target": ("target {target}", "测试对象 {target}"),
    "env.target_value": (
        "{model} at {url}, engine {engine}",
        "模型 {model}，地址 {url}，引擎 {engine}",
    ),
    "env.hosts": ("hosts", "主机"),
    "env.period": ("measured", "测试时间"),
    # columns
    "col.target": ("target", "测试对象"),
    "col.n": ("n", "样本数"),
    "col.metric": ("metric", "指标"),
    "col.mean_ttft": ("mean first-token latency (ms)", "平均首词生成延迟 (ms)"),
    "col.mean_e2e": ("mean full-response latency (ms)", "完整响应延迟 (ms)"),
    "col.tokens_per_s": ("throughput (output tokens/s)", "吞吐量 (tokens/s)"),
    "col.request_tokens_per_s": ("tokens/s per request (mean)", "单请求 tokens/s (均值)"),
    "col.mean": ("mean (ms)", "平均值 (ms)"),
    "col.p95": ("P95 (ms)", "P95 (ms)"),
    "col.range_p5_p95": ("fluctuation range P5–P95 (ms)", "波动区间 P5–P95 (ms)"),
    "col.range_min_max": ("min–max (ms)", "最小–最大 (ms)"),
    "col.concurrency": ("concurrency", "并发数"),
    "col.requests_per_s": ("requests/s", "请求/秒"),
    "col.client_cpu": ("client CPU % (mean/max)", "客户端 CPU % (均值/峰值)"),
    "col.client_memory": ("client memory (MiB)", "客户端内存 (MiB)"),
    "col.server_cpu": ("server CPU % (mean/max)", "服务端 CPU % (均值/峰值)"),
    "col.server_memory": ("server memory (MiB)", "服务端内存 (MiB)"),
    "col.input_tokens": ("input length (tokens)", "输入长度 (tokens)"),
    "col.p95_ttft": ("P95 first-token latency (ms)", "P95 首词延迟 (ms)"),
    "col.p95_e2e": ("P95 full-response latency (ms)", "P95 完整响应延迟 (ms)"),
    "col.mode": ("mode", "模式"),
    "mode.sequential": ("sequential", "同步（逐步执行）"),
    "mode.concurrent": ("concurrent", "并发"),
    "col.tasks": ("tasks", "任务数"),
    "col.tasks_ok": ("completed", "完成"),
    "col.tasks_censored": ("timed out / failed", "超时 / 失败"),
    "col.tasks_per_s": ("task throughput (tasks/s)", "任务吞吐量 (任务/秒)"),
    "col.task_mean_s": ("mean completion (s)", "平均完成时间 (s)"),
    "col.task_p95_s": ("P95 completion (s)", "P95 完成时间 (s)"),
    "col.critical_path_s": ("mean critical path (s)", "平均关键路径 (s)"),
    "col.step_sum_s": ("mean Σ step times (s)", "平均各步骤耗时之和 (s)"),
    "col.step": ("step", "步骤"),
    "col.sessions": ("sessions × turns", "会话数 × 轮数"),
    "col.ttft_first": ("TTFT P50 turn 0 (ms)", "首轮 TTFT P50 (ms)"),
    "col.ttft_later": ("TTFT P50 later turns (ms)", "后续轮次 TTFT P50 (ms)"),
    "col.later_first": ("later / turn 0 [95% CI]", "后续轮次 / 首轮 [95% CI]"),
    "col.cached_first": ("cached share turn 0", "首轮缓存命中占比"),
    "col.cached_later": ("cached share later turns", "后续轮次缓存命中占比"),
    "col.n_new_continued": ("n later turns (new / continued)", "后续轮次样本数（新 / 续）"),
    "col.ttft_later_new": ("TTFT P50 later turns, new (ms)", "新会话后续轮次 TTFT P50 (ms)"),
    "col.ttft_later_continued": (
        "TTFT P50 later turns, continued (ms)",
        "续接会话后续轮次 TTFT P50 (ms)",
    ),
    "col.continued_new": ("continued / new [95% CI]", "续接 / 新会话 [95% CI]"),
    "col.agent_step": ("step", "步骤"),
    "col.ttft_p50": ("TTFT P50 (ms)", "TTFT P50 (ms)"),
    "col.thinking_p50": ("time to the action P50 (ms)", "输出动作用时 P50 (ms)"),
    "col.e2e_p50": ("E2E P50 (ms)", "E2E P50 (ms)"),
    "col.prompt_tokens": ("prompt tokens (mean)", "输入 token 数（均值）"),
    "col.cached": ("cached share", "缓存命中占比"),
    "col.tasks_ok_of": ("tasks ok / all", "成功任务 / 全部"),
    "col.steps_per_task": ("steps per task (mean)", "每任务步数（均值）"),
    "col.task_p50_s": ("P50 completion (s)", "P50 完成时间 (s)"),
    "col.model_share": ("model share (mean)", "模型耗时占比（均值）"),
    "col.protocol": ("how", "方式"),
    "col.loop_first_ttft": ("loop: TTFT P50 of step 0 (ms)", "循环：第 0 步 TTFT P50 (ms)"),
    "col.first_event": ("service: first event P50 (ms)", "服务：首个事件 P50 (ms)"),
    "protocol.loop": ("agent loop", "智能体循环"),
    "protocol.service": ("task API", "任务 API"),
    "col.actuation_share": ("actuation share (mean)", "设备执行占比（均值）"),
    "col.part": ("part", "组成部分"),
    "col.share": ("share of E2E", "占完整响应比例"),
    "col.basis": ("basis", "依据"),
    "col.usage_cached": ("cached prompt tokens (usage)", "缓存命中的输入 tokens (usage)"),
    "col.server_hits": ("server prefix-cache hit rate", "服务端前缀缓存命中率"),
    "col.batch": ("running requests (mean/max)", "同时运行请求数 (均值/峰值)"),
    "col.cold_start": ("cold start", "冷启动"),
    # metrics
    "metric.ttft": ("first-token latency (TTFT)", "首词延迟 (TTFT)"),
    "metric.e2e": ("full-response latency (E2E)", "完整响应延迟 (E2E)"),
    # tables
    "table.main": ("Response latency per target", "响应延迟实测结果"),
    "table.spread": (
        "Mean, P95 and fluctuation range",
        "平均值、P95 与波动区间",
    ),
    "table.concurrency": (
        "Throughput and resources per concurrency level",
        "不同并发数下的吞吐量与资源占用",
    ),
    "table.input": ("Latency per input length", "不同输入长度的响应时间"),
    "table.tasks": ("Sequential vs concurrent tasks", "同步与并发任务执行对比"),
    "table.sessions": ("Sessions: first vs later turns", "多轮会话：首轮与后续轮次"),
    "table.reuse": ("Continued vs new sessions", "续接会话与新会话对比"),
    "table.agent_steps": ("Agent loop per step", "智能体循环：逐步延迟"),
    "table.agent_tasks": (
        "Agent tasks: the loop vs the service, model vs actuation",
        "智能体任务：自建循环与托管服务、模型与设备执行耗时",
    ),
    "table.comparison": ("Comparison", "对比"),
    "table.decomposition": (
        "Where the time goes (measured decomposition)",
        "时间花在哪里（实测分解）",
    ),
    "table.cache": ("Cache and batching evidence", "缓存与批处理证据"),
    "note.main": (
        "Means over the measured ok requests of each run (n); output tokens/s is the run's "
        "output tokens over its duration.",
        "每轮测试中成功请求（n）的平均值；吞吐量为该轮输出 tokens 总数除以持续时间。",
    ),
    "note.spread": (
        "The seed's fluctuation range is shown both as P5–P95 and as min–max: nothing dropped.",
        "波动区间同时以 P5–P95 与最小–最大给出：未剔除任何数据。",
    ),
    "note.concurrency": (
        "CPU in % of one core; memory is resident memory; server columns need the target's "
        "process on this host.",
        "CPU 以单核百分比计；内存为常驻内存；服务端列需被测进程在本机运行。",
    ),
    "note.client_health_cpu": (
        "client CPU from the client's own watch (no monitors block)",
        "客户端 CPU 来自客户端自检（无监控数据）",
    ),
    "note.sessions": (
        "Per session run: turn 0 against turns >= 1 (median ratio, bootstrap 95% CI, seeded); "
        "cached share: usage cached_tokens / prompt_tokens over the requests reporting it. A "
        "study's `continued` step reuses each session's history; `new` sends every turn as a "
        "new conversation of the same length.",
        "每个会话运行：首轮与第 1 轮及之后的轮次对比（中位数之比，自助法 95% 置信区间，固定种子）；"
        "缓存命中占比：上报 cached_tokens 的请求中 cached_tokens / prompt_tokens。研究中的 "
        "`continued` 步骤复用各会话的历史，`new` 将每一轮作为同长度的新对话发送。",
    ),
    "note.reuse": (
        "Turns >= 1 only (the same turns and prompt lengths in both runs): median TTFT of the "
        "continued sessions over the new ones, bootstrap 95% CI (seeded); below 1 with a CI "
        "below 1: reuse cuts TTFT.",
        "仅统计第 1 轮及之后的轮次（两次运行的轮次与输入长度相同）："
        "续接会话与新会话 TTFT 中位数之比，自助法 95% 置信区间（固定种子）；"
        "比值与置信区间都小于 1 说明复用降低了 TTFT。",
    ),
    "note.agent_steps": (
        "Per step index over the run's tasks: TTFT, time from sending to the chunk holding the "
        "action, and E2E (P50); a step is one model call of the phone-agent loop.",
        "按步骤序号统计本次运行的所有任务：TTFT、从发送到包含动作的数据块的时间、E2E（P50）；"
        "每一步是手机智能体循环中的一次模型调用。",
    ),
    "note.agent_tasks": (
        "Completion: a task's submission to its last step's end (a service: to its end as "
        "polled, known to within one poll interval), ok tasks. A loop's first token (TTFT) and "
        "a service's first event are different measures: separate columns. Model share: Σ "
        "model calls / completion; actuation share: Σ actuation waits / completion (means "
        "over tasks; a service's own split is not visible).",
        "完成时间：从任务提交到最后一步结束（服务：轮询得知的结束，误差在一个轮询间隔内），仅统计成功任务。"
        "循环的首 token（TTFT）与服务的首个事件是不同的度量，分列显示。"
        "模型占比：模型调用耗时之和 / 完成时间；"
        "设备执行占比：设备执行等待之和 / 完成时间（按任务取均值；服务内部的划分不可见）。",
    ),
    "note.tasks": (
        "Completion time over completed tasks; timed-out and failed tasks are censored "
        "observations, counted beside, never dropped. Task throughput: completed tasks over "
        "the first submission to the last end.",
        "完成时间只统计完成的任务；超时与失败的任务为删失观测，单独计数，不会丢弃。任务吞吐量："
        "完成任务数除以从首次提交到最后结束的时间。",
    ),
    # the why section
    "why.title": ("Why: the measured evidence", "原因分析：实测证据"),
    "why.largest": (
        "{name}: of the mean full response ({e2e} ms), the largest part is {part} ({ms} ms, "
        "{share}).",
        "{name}：完整响应平均 {e2e} ms，其中最大的部分是{part}（{ms} ms，占 {share}）。",
    ),
    "why.largest_estimated": (
        "{name}: of the mean full response ({e2e} ms), the largest part is {part} ({ms} ms, "
        "{share}; estimated from the server's histograms, see below).",
        "{name}：完整响应平均 {e2e} ms，其中最大的部分是{part}（{ms} ms，占 {share}；"
        "按服务端直方图估算，见下表）。",
    ),
    "why.gap": (
        "{b} is {gap} ms {dir} than {a} in mean full response; {share} of that gap is {part} "
        "({pb} vs {pa} ms).",
        "{b} 的平均完整响应比 {a} {dir} {gap} ms；其中 {share} 来自{part}（{pb} 对 {pa} ms）。",
    ),
    "why.slower": ("slower", "慢"),
    "why.faster": ("faster", "快"),
    "why.split": (
        "{name}: first-token wait split by {source}.",
        "{name}：首词等待按 {source} 拆分。",
    ),
    "why.no_split": (
        "{name}: the first-token wait is not split into queue and prefill (no server histograms).",
        "{name}：首词等待未拆分为排队与预填充（无服务端直方图）。",
    ),
    "why.cold": (
        "{name}: cold start found: the first {k} requests' {metric} median {first} ms is "
        "{ratio}× the steady {steady} ms.",
        "{name}：检测到冷启动：前 {k} 个请求的 {metric} 中位数 {first} ms 是稳定期 {steady} ms "
        "的 {ratio} 倍。",
    ),
    "why.cold_one": (
        "{name}: cold start found: the first request's {metric} {first} ms is {ratio}× the "
        "steady median {steady} ms.",
        "{name}：检测到冷启动：第一个请求的 {metric} {first} ms 是稳定期中位数 {steady} ms 的 "
        "{ratio} 倍。",
    ),
    "why.not_cold": (
        "{name}: no cold start found over {n} requests.",
        "{name}：在 {n} 个请求中未发现冷启动。",
    ),
    "why.cold_unknown": (
        "{name}: cold start not judged ({reason}).",
        "{name}：未判断冷启动（{reason}）。",
    ),
    "why.cache": (
        "{name}: {share} of prompt tokens were cached (the responses' usage), {hits} requests "
        "had a hit.",
        "{name}：{share} 的输入 tokens 命中缓存（按响应 usage），{hits} 个请求命中。",
    ),
    "why.server_cache": (
        "{name}: the server's prefix-cache hit rate was {rate}.",
        "{name}：服务端前缀缓存命中率为 {rate}。",
    ),
    "why.batch": (
        "{name}: the server ran {mean} requests at once on average (max {max}; {n} scrapes).",
        "{name}：服务端平均同时运行 {mean} 个请求（峰值 {max}；{n} 次采样）。",
    ),
    "why.batching": (
        "{name}: from concurrency {c1} to {c2}, the server ran {b1} → {b2} requests at once on "
        "average (its running-requests gauge), and output tokens/s went {t1} → {t2}.",
        "{name}：并发数从 {c1} 到 {c2}，服务端平均同时运行的请求数（运行中请求数指标）为 "
        "{b1} → {b2}，输出 tokens/s 为 {t1} → {t2}。",
    ),
    "why.input": (
        "{name}: from {l1} to {l2} input tokens, the mean first-token wait went {w1} → {w2} ms.",
        "{name}：输入从 {l1} 到 {l2} tokens，平均首词等待为 {w1} → {w2} ms。",
    ),
    "why.input_prefill": (
        "Its prefill estimate: {p1} → {p2} ms.",
        "其中预填充估算：{p1} → {p2} ms。",
    ),
    "why.sessions_continued": (
        "{name}: continued sessions' median TTFT is {ratio}× new sessions'{ci} ({b} vs {a} ms).",
        "{name}：延续会话的首词延迟中位数是新会话的 {ratio} 倍{ci}（{b} 对 {a} ms）。",
    ),
    "why.sessions_later": (
        "{name}: later turns' median TTFT is {ratio}× the first turn's{ci} ({b} vs {a} ms).",
        "{name}：后续轮次的首词延迟中位数是首轮的 {ratio} 倍{ci}（{b} 对 {a} ms）。",
    ),
    "why.none": (
        "No decomposition or cache evidence in these runs (run.json from before them).",
        "这些测试结果中没有分解或缓存证据（run.json 版本较早）。",
    ),
    # decomposition parts
    "part.client_send_lag": ("client send lag", "客户端发送延迟"),
    "part.ttfb": ("headers (TTFB)", "响应头 (TTFB)"),
    "part.first_token_wait": ("first-token wait", "首词等待"),
    "part.queue_wait": ("queue wait", "排队等待"),
    "part.prefill": ("prefill", "预填充"),
    "part.decode": ("decode", "解码"),
    "part.after_headers": ("after headers", "响应头之后"),
    "part.intake": ("intake (network, server)", "接入（网络、服务端）"),
    "part.first_token_delivery": ("first-token delivery", "首词送达"),
    "part.after_first_token": ("after first token", "首个 token 之后"),
    "part.first_token_other": ("first-token wait, other", "首词等待（其他）"),
    "part.task_accept": ("task: accept", "任务：受理"),
    "part.task_human_wait": ("task: human wait", "任务：等待人工"),
    "part.task_agent_work": ("task: agent work", "任务：智能体工作"),
    "part.task_polling_delay": ("task: polling delay", "任务：轮询延迟"),
    "basis.task_accept": (
        "measured: submitted → the create call answered",
        "实测：提交 → 创建请求得到应答",
    ),
    "basis.task_human_wait": (
        "measured: the service's waiting-for-a-human time, until llmbench answered",
        "实测：服务等待人工的时间，直到 llmbench 应答",
    ),
    "basis.task_agent_work": (
        "estimated: completion − accept − human wait − polling delay (the service's own work "
        "and the delivery of its end)",
        "估算：完成时间 − 受理 − 等待人工 − 轮询延迟（服务自身的工作及其结束通知的送达）",
    ),
    "basis.task_polling_delay": (
        "estimated: a poll-seen end lies between the previous poll and the one that saw it: half "
        "that interval; 0 for an end seen by webhook or stream",
        "估算：轮询发现的结束位于前一次轮询与发现它的那次之间：取该间隔的一半；"
        "由 webhook 或流发现的结束为 0",
    ),
    # the decomposition's basis notes as monitor/decomposition.py words them (shown translated
    # only when the stored note is exactly this English text)
    "basis.client_send_lag": (
        "measured: sent − scheduled (before E2E starts)",
        "实测：发送时刻 − 计划时刻（在 E2E 开始之前）",
    ),
    "basis.ttfb": (
        "measured: network and server intake, sent → headers",
        "实测：网络与服务端接收，发送 → 响应头",
    ),
    "basis.first_token_wait": ("measured: headers → first token", "实测：响应头 → 首个 token"),
    "basis.decode": ("measured: first → last token", "实测：首个 → 最后一个 token"),
    "basis.after_headers": (
        "measured: headers → end, no first token seen",
        "实测：响应头 → 结束，未见首个 token",
    ),
    "basis.queue_wait": (
        "estimated: first-token wait × the server's queue / (queue + prefill) mean ratio",
        "估算：首词等待 × 服务端排队 /（排队 + 预填充）均值之比",
    ),
    "basis.prefill": ("estimated: the rest of it", "估算：首词等待的其余部分"),
    # by the block's `split` (the two above are the notes of run.json files without one)
    "basis.queue_wait_apportioned": (
        "estimated: first-token wait × the server's mean queue time / the client's mean "
        "first-token wait",
        "估算：首词等待 × 服务端平均排队时间 / 客户端平均首词等待",
    ),
    "basis.prefill_apportioned": (
        "estimated: first-token wait × the server's mean prefill time / the client's mean "
        "first-token wait",
        "估算：首词等待 × 服务端平均预填充时间 / 客户端平均首词等待",
    ),
    "basis.first_token_other": (
        "estimated: first-token wait − queue wait − prefill (server intake after the headers, "
        "first-token delivery; and prefill where the server has no histogram of it)",
        "估算：首词等待 − 排队等待 − 预填充（响应头之后的服务端接收、首词送达；"
        "服务端无预填充直方图时也含预填充）",
    ),
    "basis.intake": (
        "measured (simulator log, shared clock): sent → the engine could schedule it "
        "(network, server intake, request overhead)",
        "实测（模拟器日志，共享时钟）：发送 → 引擎可调度（网络、服务端接收、请求开销）",
    ),
    "basis.queue_wait_exact": (
        "measured (simulator log): could be scheduled → first scheduled",
        "实测（模拟器日志）：可调度 → 首次调度",
    ),
    "basis.prefill_exact": (
        "measured (simulator log): first scheduled → first token produced",
        "实测（模拟器日志）：首次调度 → 产生首个 token",
    ),
    "basis.first_token_delivery": (
        "measured (simulator log, shared clock): first token produced → received by the client",
        "实测（模拟器日志，共享时钟）：产生首个 token → 客户端收到",
    ),
    "basis.after_first_token": (
        "measured (simulator log, shared clock): first token produced → end, no first token seen",
        "实测（模拟器日志，共享时钟）：产生首个 token → 结束，未见首个 token",
    ),
    "cold.yes": ("yes: first {k} requests {ratio}×", "是：前 {k} 个请求 {ratio} 倍"),
    "cold.no": ("no", "否"),
    # comparison
    "comparison.none": (
        "One target only: nothing to compare.",
        "只有一个测试对象：无可对比。",
    ),
    "cmp.pair": ("candidate / baseline", "对比对象 / 基准"),
    "cmp.metric": ("metric", "指标"),
    "cmp.baseline": (
        "baseline mean · P50 · P95 · P99 (P5–P95)",
        "基准 均值 · P50 · P95 · P99 (P5–P95)",
    ),
    "cmp.candidate": (
        "candidate mean · P50 · P95 · P99 (P5–P95)",
        "对比对象 均值 · P50 · P95 · P99 (P5–P95)",
    ),
    "cmp.median_ratio": ("median ratio [95% CI]", "中位数之比 [95% 置信区间]"),
    "cmp.p95_ratio": ("P95 ratio", "P95 之比"),
    "cmp.p99_ratio": ("P99 ratio", "P99 之比"),
    "cmp.p_holm": ("p (Holm)", "p 值 (Holm 校正)"),
    "cmp.superiority": ("P(candidate lower)", "P(对比对象更低)"),
    "cmp.verdict": ("verdict", "结论"),
    "cmp.stat_p50": ("median ", "中位数"),
    "cmp.stat_p95": ("P95 ", "P95 "),
    "cmp.stat_p99": ("P99 ", "P99 "),
    "cmp.stat_geomean": ("task-by-task ", "逐任务"),
    "cmp.sentence": (
        "{candidate}'s {stat}{metric} is {ratio}× {baseline}'s{ci}, {p}: {verdict}",
        "{candidate} 的{stat}{metric}是 {baseline} 的 {ratio} 倍{ci}，{p}：{verdict}",
    ),
    "cmp.sentence_plain": (
        "{candidate} against {baseline} on {metric}, {p}: {verdict}",
        "{candidate} 与 {baseline} 的{metric}对比，{p}：{verdict}",
    ),
    "cmp.side": ("{label}: {protocol}, load {state}", "{label}：{protocol}，负载状态 {state}"),
    "cmp.not_compared": ("not compared: {reason}", "未对比：{reason}"),
    "cmp.refused": (
        "{candidate} not compared with {baseline}: {why}",
        "{candidate} 未与 {baseline} 对比：{why}",
    ),
    "protocol.token stream": ("token stream", "token 流"),
    "protocol.task API": ("task API", "任务 API"),
    "protocol.token stream + tasks": ("token stream + tasks", "token 流 + 任务"),
    "protocol.no data": ("no data", "无数据"),
    "state.stable": ("stable", "稳定"),
    "state.backlogged": ("backlogged", "积压"),
    "state.overloaded": ("overloaded", "过载"),
    "state.invalid": ("invalid", "无效"),
    "verdict.faster": ("faster", "更快"),
    "verdict.slower": ("slower", "更慢"),
    "verdict.same": ("no meaningful difference", "无实质差异"),
    "verdict.inconclusive": ("inconclusive", "无法判断"),
    "cmetric.ttft_ms": ("TTFT", "首词延迟 TTFT"),
    "cmetric.ttfo_ms": ("TTFO", "首个可见 token 延迟 TTFO"),
    "cmetric.itl_ms": ("ITL", "token 间隔 ITL"),
    "cmetric.tpot_ms": ("TPOT", "每 token 耗时 TPOT"),
    "cmetric.e2e_ms": ("E2E", "完整响应延迟 E2E"),
    "cmetric.request_output_tokens_per_s": ("output tokens/s", "输出 tokens/s"),
    "cmetric.task_first_event_ms": ("first task event", "任务首个事件"),
    "cmetric.task_completion_ms": ("task time to success", "任务成功耗时"),
    "cmetric.first_output_ms": ("first output", "首个输出"),
    "comparison.sentences": ("In plain words", "结论"),
    # charts
    "chart.cdf_ttft": ("First-token latency CDF", "首词延迟累积分布"),
    "chart.cdf_e2e": ("Full-response latency CDF", "完整响应延迟累积分布"),
    "chart.fraction": ("fraction of requests", "请求比例"),
    "chart.latency_ms": ("latency (ms)", "延迟 (ms)"),
    "chart.vs_concurrency": (
        "Latency vs concurrency (mean, 95% CI)",
        "延迟随并发数变化（均值，95% 置信区间）",
    ),
    "chart.vs_input": (
        "Latency vs input length (mean, 95% CI)",
        "延迟随输入长度变化（均值，95% 置信区间）",
    ),
    "chart.throughput": (
        "Throughput, CPU and memory vs concurrency",
        "吞吐量、CPU 与内存随并发数变化",
    ),
    "chart.cpu_percent": ("CPU % of one core", "CPU 单核 %"),
    "chart.monitors_axis": ("CPU % of one core; running requests", "CPU 单核 %；运行中请求数"),
    "chart.timeseries": ("A run over time: {name}", "单轮测试时间序列：{name}"),
    "chart.seconds": ("seconds from the run's start", "距测试开始的秒数"),
    "chart.per_turn": (
        "First-token latency per session turn (mean)",
        "各会话轮次的首词延迟（均值）",
    ),
    "chart.turn": ("turn", "轮次"),
    "chart.per_step": (
        "Full-response latency per agent step (mean)",
        "各智能体步骤的完整响应延迟（均值）",
    ),
    "chart.step": ("step", "步骤"),
    "chart.gantt": ("One task's steps: {task}", "单个任务的步骤：{task}"),
    "chart.decomposition": ("Decomposition of the mean full response", "完整响应平均耗时分解"),
    "series.ttft": ("TTFT {name}", "首词延迟 {name}"),
    "series.e2e": ("E2E {name}", "完整响应 {name}"),
    "series.tokens_per_s": ("output tokens/s {name}", "输出 tokens/s {name}"),
    "series.client_cpu": ("client CPU % {name}", "客户端 CPU % {name}"),
    "series.server_cpu": ("server CPU % {name}", "服务端 CPU % {name}"),
    "series.client_memory": ("client MiB {name}", "客户端内存 MiB {name}"),
    "series.batch": ("server running requests", "服务端运行中请求数"),
    "series.server_memory": ("server MiB {name}", "服务端内存 MiB {name}"),
    "series.host_cpu": ("host CPU %", "主机 CPU %"),
    "series.client_cpu_plain": ("client CPU %", "客户端 CPU %"),
    "series.server_cpu_plain": ("server CPU %", "服务端 CPU %"),
    "series.ttft_per_request": ("TTFT per request", "单请求首词延迟"),
    "series.e2e_per_request": ("E2E per request", "单请求完整响应延迟"),
    "series.every": ("(every {k}th request)", "（每 {k} 个请求取一个）"),
    "axis.tokens_per_s": ("output tokens/s", "输出 tokens/s"),
    "axis.memory_mib": ("resident memory (MiB)", "常驻内存 (MiB)"),
    "axis.ms": ("ms", "毫秒"),
    "axis.run": ("run", "测试轮次"),
}


class Messages:
    """`m("table.main")` → the table's title in the report's language."""

    def __init__(self, lang: Lang = "en") -> None:
        self.lang = lang
        self._index = LANGS.index(lang)

    def stored(self, key: str, text: str) -> str:
        """A note stored in the results, translated when it is exactly the catalog's English
        for `key` (a note worded otherwise stays as stored)."""
        pair = CATALOG.get(key)
        return pair[self._index] if pair is not None and pair[0] == text else text

    def __call__(self, key: str, **values: object) -> str:
        text = CATALOG[key][self._index]
        return text.format(**values) if values else text

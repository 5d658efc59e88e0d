"""Prints a Markdown table from one bench/ai/run.sh results file (JSON lines)."""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
base = next((r for r in rows if r["label"] == "upstream-direct"), None)
lite = next((r for r in rows if r["label"] == "litellm"), None)
print("| server | streams ok/err | tokens/s | TTFT p50 ms (added) | TTFT p99 ms (added) "
      "| CPU ms / 1k tokens | vs LiteLLM CPU | KiB / open stream |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    add50 = add99 = ""
    if base and r is not base:
        add50 = f" (+{r['ttft_ms_p50'] - base['ttft_ms_p50']:.2f})"
        add99 = f" (+{r['ttft_ms_p99'] - base['ttft_ms_p99']:.2f})"
    ratio = ""
    if lite and r is not lite and lite["cpu_ms_per_1k_tokens"]:
        ratio = f"1/{lite['cpu_ms_per_1k_tokens'] / max(r['cpu_ms_per_1k_tokens'], 1e-9):.0f}"
    print(f"| {r['label']} | {r['ok']}/{r['errors']} | {r['tokens_per_s']:.0f} "
          f"| {r['ttft_ms_p50']:.2f}{add50} | {r['ttft_ms_p99']:.2f}{add99} "
          f"| {r['cpu_ms_per_1k_tokens']:.1f} | {ratio} | {r['kib_per_stream']:.1f} |")

"""Prints a Markdown table from one bench/ai/run.sh results file (JSON lines)."""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
base = next((r for r in rows if r["label"] == "upstream-direct"), None)
lite = next((r for r in rows if r["label"] == "litellm"), None)


def added(r, key):
    if not base or r is base or key not in r or key not in base:
        return ""
    return f" (+{r[key] - base[key]:.2f})"


print("| server | streams ok/err | tokens/s | TTFT p50 / p99 ms, all clients (added) "
      "| probe TTFT p50 / p99 ms under load (added) | CPU ms / 1k tokens | vs LiteLLM CPU "
      "| KiB / open stream |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    ratio = ""
    if lite and r is not lite and lite["cpu_ms_per_1k_tokens"]:
        ratio = f"1/{lite['cpu_ms_per_1k_tokens'] / max(r['cpu_ms_per_1k_tokens'], 1e-9):.0f}"
    print(f"| {r['label']} | {r['ok']}/{r['errors']} | {r['tokens_per_s']:.0f} "
          f"| {r['ttft_ms_p50']:.1f}{added(r, 'ttft_ms_p50')} / "
          f"{r['ttft_ms_p99']:.1f}{added(r, 'ttft_ms_p99')} "
          f"| {r.get('probe_ttft_ms_p50', float('nan')):.2f}{added(r, 'probe_ttft_ms_p50') if 'probe_ttft_ms_p50' in r else ''} / "
          f"{r.get('probe_ttft_ms_p99', float('nan')):.2f}{added(r, 'probe_ttft_ms_p99') if 'probe_ttft_ms_p99' in r else ''} ({r.get('probes', 0)}) "
          f"| {r['cpu_ms_per_1k_tokens']:.1f} | {ratio} | {r['kib_per_stream']:.1f} |")

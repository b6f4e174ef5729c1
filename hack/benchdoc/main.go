// Command benchdoc writes the cluster section of docs/benchmarks.md from
// the JSON lines the cluster benchmarks record (PLUMB_BENCH_OUT): one table
// per size with plumb, kubectl and the raw apply loop side by side, the
// ratios the performance goals are stated in, and plumb serve's memory.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

type record struct {
	Name     string         `json:"name"`
	Ms       float64        `json:"ms"`
	Requests int            `json:"requests"`
	ByVerb   map[string]int `json:"byVerb"`
	RSSMiB   float64        `json:"rssMiB"`
	PeakMiB  float64        `json:"peakMiB"`
	AnonMiB  float64        `json:"anonMiB"`
	FileMiB  float64        `json:"fileMiB"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: benchdoc RECORDS.jsonl")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchdoc: %v\n", err)
		os.Exit(2)
	}
	defer f.Close()
	if err := write(os.Stdout, f); err != nil {
		fmt.Fprintf(os.Stderr, "benchdoc: %v\n", err)
		os.Exit(2)
	}
}

// Names look like Cluster/N=1501/plumb/cold-2 or Serve/N=1501/noop-reconcile-2.
var sizeRe = regexp.MustCompile(`/N=(\d+)/`)

func write(w io.Writer, r io.Reader) error {
	recs := map[string]record{}
	sizes := map[int]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var rec record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return fmt.Errorf("%q: %w", sc.Text(), err)
		}
		rec.Name = regexp.MustCompile(`-\d+$`).ReplaceAllString(rec.Name, "")
		recs[rec.Name] = rec
		if m := sizeRe.FindStringSubmatch(rec.Name); m != nil {
			n, _ := strconv.Atoi(m[1])
			sizes[n] = true
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	var ns []int
	for n := range sizes {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	fmt.Fprintln(w, "## Against the cluster (`BenchmarkCluster`, `BenchmarkServe`)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "One run against the test control plane (kube-apiserver 1.37.2 on loopback, sharing the 2 cores with the")
	fmt.Fprintln(w, "clients). The workload has N objects: a Namespace, then ConfigMaps, Deployments (no replicas) and Services")
	fmt.Fprintln(w, "in equal parts. Every client talks through a counting proxy, so each cell carries its API requests; peak RSS")
	fmt.Fprintln(w, "is the process's (the raw loop runs inside the benchmark, so it has none). `plumb` is `bin/plumb` as")
	fmt.Fprintln(w, "`make build` builds it, the CLI a new process each time, as in CI; `plumb serve` rows time one reconcile pass")
	fmt.Fprintln(w, "of a running controller (a webhook triggers it; the time is the pass's, from")
	fmt.Fprintln(w, "`plumb_reconcile_duration_seconds`; watches are not counted). A pass that only renews fingerprints leaves")
	fmt.Fprintln(w, "the inventory write to a checkpoint a second later, which gathers the changes made meanwhile; its row")
	fmt.Fprintln(w, "counts that write (its time is mostly the wait).")
	fmt.Fprintln(w, "Each measurement starts with the cluster at rest (the controller manager has seen every Deployment, no")
	fmt.Fprintln(w, "namespace is being deleted), so none shares the cores with the rollout or clean-up of the one before.")
	fmt.Fprintln(w, "The floor is a raw server-side apply loop with 16 workers and no client-side rate limit. kubectl is left out")
	fmt.Fprintln(w, "above 1,501 objects (`PLUMB_BENCH_KUBECTL_MAX`): at 10,000 one `kubectl apply --server-side` kept a core busy")
	fmt.Fprintln(w, "for more than ten minutes here, client-side.")
	for _, n := range ns {
		get := func(name string) (record, bool) {
			rec, ok := recs[fmt.Sprintf("Cluster/N=%d/%s", n, name)]
			if !ok {
				rec, ok = recs[fmt.Sprintf("Serve/N=%d/%s", n, name)]
			}
			return rec, ok
		}
		fmt.Fprintf(w, "\n### N = %d\n\n", n)
		fmt.Fprintln(w, "| scenario | plumb | kubectl | floor (raw apply, 16 workers) | plumb / kubectl | plumb / floor |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|")
		for _, sc := range []struct{ label, plumb, kubectl, floor string }{
			{"cold sync", "plumb/cold", "kubectl/cold", "floor/cold"},
			{"no-op sync (CLI)", "plumb/noop", "kubectl/noop", "floor/noop"},
			{"one object changed (CLI)", "plumb/one-changed", "kubectl/one-changed", ""},
			{"diff, nothing changed", "plumb/diff", "kubectl/diff", ""},
			{"no-op reconcile (`plumb serve`)", "noop-reconcile", "", ""},
			{"one object changed (`plumb serve`)", "one-changed", "", ""},
			{"then the inventory checkpoint (`plumb serve`)", "checkpoint", "", ""},
		} {
			p, okP := get(sc.plumb)
			k, okK := get(sc.kubectl)
			fl, okF := get(sc.floor)
			if !okP {
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", sc.label, cell(p, true), cellIf(k, okK), cellIf(fl, okF), ratio(p, k, okK), ratio(p, fl, okF))
		}
	}
	if h, ok := recs["ServeHealth/10000-certificates"]; ok {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "### plumb serve rating health (`BenchmarkServeHealth`)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "An App of 10,000 cert-manager Certificates, each Progressing (no status yet), so plumb serve rates the App")
		fmt.Fprintln(w, "again every second with the library (Argo CD's health script); ratings are kept by resourceVersion. The")
		fmt.Fprintln(w, "health phase of such a pass (median, from plumb serve's phase timings) and the requests per pass. Goal: under")
		fmt.Fprintln(w, "100 ms, no request.")
		fmt.Fprintln(w)
		fmt.Fprintf(w, "| objects | health phase | requests per pass |\n|---|---|---|\n| 10,000 Certificates | %s | %d |\n", dur(h.Ms), h.Requests)
	}
	if m, ok := recs["Serve/memory/20-apps-10000-objects"]; ok {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "### plumb serve memory")
		fmt.Fprintln(w)
		fmt.Fprintf(w, "20 Apps of 501 objects each (10,020 objects) synced from one repository in %.0f s: resident memory %.0f MiB\n", m.Ms/1000, m.RSSMiB)
		fmt.Fprintf(w, "once settled (%.0f MiB anonymous: heap and stacks; %.0f MiB of the binary's own pages), peak %.0f MiB.\n", m.AnonMiB, m.FileMiB, m.PeakMiB)
	}
	return nil
}

func cell(r record, withRSS bool) string {
	s := fmt.Sprintf("%s, %d req", dur(r.Ms), r.Requests)
	if len(r.ByVerb) > 0 {
		var verbs []string
		for v, n := range r.ByVerb {
			verbs = append(verbs, fmt.Sprintf("%s %d", v, n))
		}
		sort.Strings(verbs)
		s += " (" + strings.Join(verbs, ", ") + ")"
	}
	if withRSS && r.RSSMiB > 0 {
		s += fmt.Sprintf(", %.0f MiB", r.RSSMiB)
	}
	return s
}

func cellIf(r record, ok bool) string {
	if !ok {
		return "–"
	}
	return cell(r, true)
}

func ratio(a, b record, ok bool) string {
	if !ok || b.Ms == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2fx", a.Ms/b.Ms)
}

func dur(ms float64) string {
	if ms >= 1000 {
		return fmt.Sprintf("%.2f s", ms/1000)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

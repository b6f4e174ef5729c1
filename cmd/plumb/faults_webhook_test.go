package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plumbhq/plumb/api/v1alpha1"
	"github.com/plumbhq/plumb/git"
	"github.com/plumbhq/plumb/internal/gittest"
	"github.com/plumbhq/plumb/internal/testreport"
)

// A webhook flood from concurrent clients: 10,000 badly signed requests,
// 1,000 valid ones and 100 MB bodies. Memory stays bounded, nothing
// crashes, every valid push is processed and they coalesce into few polls.
func TestFaultWebhookFlood(t *testing.T) {
	rec := &testreport.Entry{Kind: testreport.Fault, Name: "webhook flood (10,000 bad, 1,000 valid, 100 MB bodies)", OK: true}
	testreport.Record(t, rec)
	s := newServeEnv(t, "fault-flood", gittest.Options{})
	apps := s.exampleApps(s.repo.URL, func(a *v1alpha1.App) {
		a.Spec.SyncPolicy.Interval = &metav1.Duration{Duration: time.Hour}
	})
	s.createApps(apps)
	secret := "flood-webhook-secret"
	t.Setenv(WebhookSecretEnv, secret) // inherited by the serve process
	d := startServe(t, "--watch-namespace", s.ns)
	s.waitReady(60*time.Second, "plain", "kustomize", "helm")
	rssBefore := procMemKiB(t, d.proc.Pid(), "VmRSS")
	polls := d.metric("plumb_git_requests_total", `op="ls-remote"`)
	s.commit(map[string]string{"plain/configmap.yaml": strings.Replace(readExample(t, "plain/configmap.yaml"), "hello from plain YAML", "after the flood", 1)}, "plain: flood")

	got, flood := floodWebhook(d, s.repo.URL, secret)

	if done, err := d.proc.Exited(); done {
		t.Fatalf("plumb serve died in the flood: %v", err)
	}
	if got(http.StatusUnauthorized) != 10_000 || got(http.StatusAccepted) != 1_000 {
		t.Errorf("answers: 401×%d 202×%d 413×%d closed×%d; want 10,000 × 401 and 1,000 × 202",
			got(http.StatusUnauthorized), got(http.StatusAccepted), got(http.StatusRequestEntityTooLarge), got(-1))
	}
	if n := got(http.StatusRequestEntityTooLarge) + got(-1); n != 12 {
		t.Errorf("100 MB bodies refused: %d of 12", n)
	}
	if accepted := d.metric("plumb_webhook_requests_total", `result="accepted"`); accepted != 1000 {
		t.Errorf("valid pushes processed: %v, want 1000", accepted)
	}
	eventually(t, 30*time.Second, "the pushed change is live", func() (bool, string) {
		v := s.kubectl("get", "configmap", "hello-config", "-o", "jsonpath={.data.message}")
		return v == "after the flood", v
	})
	hwm := procMemKiB(t, d.proc.Pid(), "VmHWM")
	lsRemotes := d.metric("plumb_git_requests_total", `op="ls-remote"`) - polls
	if lsRemotes >= 1000 {
		t.Errorf("1,000 pushes made %v ls-remotes: not coalesced", lsRemotes)
	}
	growth := float64(hwm-rssBefore) / 1024
	if growth > 256 {
		t.Errorf("memory grew by %.0f MiB during the flood", growth)
	}
	rec.Detail = fmt.Sprintf("11,012 requests in %.1fs; peak RSS %.0f MiB (+%.0f MiB); 1,000 valid pushes → %v ls-remotes", flood.Seconds(), float64(hwm)/1024, growth, lsRemotes)
}

// floodWebhook sends TestFaultWebhookFlood's flood to d's GitHub webhook
// from 32 clients: 11,000 pushes (1,000 signed with secret) and twelve
// 100 MB bodies. It returns how many answers had each status code (-1: the
// server closed the connection) and how long the flood took.
func floodWebhook(d *plumbd, repoURL, secret string) (func(code int) int64, time.Duration) {
	body := githubPush(repoURL)
	good := git.Sign([]byte(secret), body)
	var codes gosync.Map
	count := func(code int) {
		v, _ := codes.LoadOrStore(code, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	post := func(sig string, r io.Reader, length int64) {
		req, _ := http.NewRequest(http.MethodPost, d.url+"/hooks/github", r)
		req.ContentLength = length
		req.Header.Set("X-Hub-Signature-256", sig)
		resp, err := client.Do(req)
		if err != nil {
			count(-1) // the server closed a 100 MB upload early
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		count(resp.StatusCode)
	}
	jobs := make(chan func(), 256)
	var wg gosync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for j := range jobs {
				j()
			}
		})
	}
	start := time.Now()
	for i := range 11_000 {
		switch {
		case i%11 == 5: // 1,000 valid
			jobs <- func() { post(good, bytes.NewReader(body), int64(len(body))) }
		default: // 10,000 badly signed
			jobs <- func() { post("sha256="+strings.Repeat("0", 64), bytes.NewReader(body), int64(len(body))) }
		}
		if i%2000 == 0 { // 100 MB bodies, declared and chunked
			jobs <- func() { post(good, io.LimitReader(zeros{}, 100<<20), 100<<20) }
			jobs <- func() { post(good, io.LimitReader(zeros{}, 100<<20), -1) }
		}
	}
	close(jobs)
	wg.Wait()
	flood := time.Since(start)

	got := func(code int) int64 {
		if v, ok := codes.Load(code); ok {
			return v.(*atomic.Int64).Load()
		}
		return 0
	}
	return got, flood
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// procMemKiB reads a memory figure (VmRSS, VmHWM) of a process, in KiB.
func procMemKiB(t testing.TB, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}

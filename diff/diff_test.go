package diff

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/render"
	"github.com/plumbhq/plumb/resource"
)

func obj(t *testing.T, s string) *unstructured.Unstructured {
	t.Helper()
	u, err := render.ParseObject([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestNormalize(t *testing.T) {
	in := obj(t, `apiVersion: v1
kind: Secret
metadata:
  name: s
  uid: 123
  resourceVersion: "9"
  generation: 2
  creationTimestamp: "2026-01-01T00:00:00Z"
  managedFields: [{manager: plumb}]
  annotations: {kubectl.kubernetes.io/last-applied-configuration: "{}"}
data: {a: YQ==, b: Yg==}
stringData: {b: B, c: C}
status: {x: 1}
`)
	want := obj(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: YQ==, b: Qg==, c: Qw==}\n")
	if diff := cmp.Diff(want.Object, Normalize(in, NormalizeOptions{}).Object); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, ok := Normalize(in, NormalizeOptions{CompareStatus: true}).Object["status"]; !ok {
		t.Error("CompareStatus dropped status")
	}
}

func TestMaskPair(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	desired := obj(t, fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {same: %s, changed: %s, added: %s}\n", b64("s1"), b64("new"), b64("add")))
	live := obj(t, fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: s, annotations: {copy: '{\"kind\":\"Secret\",\"data\":{\"x\":\"y\"}}'}}\ndata: {same: %s, changed: %s, removed: %s}\n", b64("s1"), b64("old"), b64("rem")))
	m := NewMasker()
	d, l := m.MaskPair(desired, live)
	wantD := map[string]any{"same": maskUnchanged, "changed": maskChanged, "added": maskSecret}
	wantL := map[string]any{"same": maskUnchanged, "changed": maskBefore, "removed": maskSecret}
	if diff := cmp.Diff(wantD, d.Object["data"]); diff != "" {
		t.Errorf("desired data (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantL, l.Object["data"]); diff != "" {
		t.Errorf("live data (-want +got):\n%s", diff)
	}
	if got := l.GetAnnotations()["copy"]; got != maskEmbedded {
		t.Errorf("embedded Secret annotation = %q", got)
	}
	if desired.Object["data"].(map[string]any)["same"] == maskUnchanged {
		t.Error("MaskPair modified its input")
	}
	for _, v := range []string{"new", "old", "add", b64("new"), b64("old")} {
		msg := m.Scrub("apply failed: value " + v + " rejected")
		if strings.Contains(msg, " "+v+" ") {
			t.Errorf("Scrub left %q in %q", v, msg)
		}
	}
	err := m.ScrubError(fmt.Errorf("wrapped: %w", errors.New("bad "+b64("new"))))
	if strings.Contains(err.Error(), b64("new")) {
		t.Errorf("ScrubError leaked: %v", err)
	}
}

func TestStripIgnored(t *testing.T) {
	u := obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop, annotations: {a/b: x}}\nspec: {replicas: 3, template: {spec: {containers: [{name: c, image: i}]}}}\n")
	present := func(c *unstructured.Unstructured, path ...string) bool {
		_, found, _ := unstructured.NestedFieldNoCopy(c.Object, path...)
		return found
	}
	image := func(c *unstructured.Unstructured) bool {
		containers, _, _ := unstructured.NestedSlice(c.Object, "spec", "template", "spec", "containers")
		_, ok := containers[0].(map[string]any)["image"]
		return ok
	}
	tests := []struct {
		name  string
		rules []IgnoreDifference
		check func(*unstructured.Unstructured) bool // true when the result is right
	}{
		{"matching kind", []IgnoreDifference{{Group: "apps", Kind: "Deployment", JSONPointers: []string{"/spec/replicas"}}},
			func(c *unstructured.Unstructured) bool {
				return !present(c, "spec", "replicas") && present(c, "spec", "template")
			}},
		{"other name is left alone", []IgnoreDifference{{Name: "api", JSONPointers: []string{"/spec/replicas"}}},
			func(c *unstructured.Unstructured) bool { return present(c, "spec", "replicas") }},
		{"other namespace is left alone", []IgnoreDifference{{Namespace: "dev", JSONPointers: []string{"/spec/replicas"}}},
			func(c *unstructured.Unstructured) bool { return present(c, "spec", "replicas") }},
		{"escaped pointer", []IgnoreDifference{{JSONPointers: []string{"/metadata/annotations/a~1b"}}},
			func(c *unstructured.Unstructured) bool { _, ok := c.GetAnnotations()["a/b"]; return !ok }},
		{"into a list element", []IgnoreDifference{{JSONPointers: []string{"/spec/template/spec/containers/0/image"}}},
			func(c *unstructured.Unstructured) bool { return !image(c) && present(c, "spec", "replicas") }},
		{"a missing path is fine", []IgnoreDifference{{JSONPointers: []string{"/spec/nothing/here"}}},
			func(c *unstructured.Unstructured) bool { return present(c, "spec", "replicas") && image(c) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := u.DeepCopy()
			StripIgnored(c, nil, tt.rules)
			if !tt.check(c) {
				t.Errorf("after StripIgnored: %v", c.Object)
			}
		})
	}
	if err := (IgnoreDifference{JSONPointers: []string{"spec/replicas"}}).Validate(); err == nil {
		t.Error("a pointer without a leading / validated")
	}
}

func TestMarkdownStaysUnderLimit(t *testing.T) {
	var r Report
	for i := range 40 {
		r.Results = append(r.Results, Result{
			Ref:    resource.Ref{Kind: "ConfigMap", Namespace: "ns", Name: fmt.Sprintf("cm-%02d", i)},
			Action: Update,
			Diff:   strings.Repeat(fmt.Sprintf("+  key-%d: value\n", i), 200*(i%5+1)),
		})
	}
	r.Results = append(r.Results, Result{Ref: resource.Ref{Kind: "ConfigMap", Name: "ok"}, Action: Unchanged})
	full := Markdown("t", r, 1<<30)
	if len(full) < MaxMarkdown {
		t.Fatalf("test input too small: %d", len(full))
	}
	got := Markdown("t", r, MaxMarkdown)
	if len(got) > MaxMarkdown {
		t.Errorf("markdown is %d characters, over %d", len(got), MaxMarkdown)
	}
	if !strings.Contains(got, "Output truncated") {
		t.Error("no truncation note")
	}
	for i := range 40 {
		if !strings.Contains(got, fmt.Sprintf("cm-%02d", i)) {
			t.Errorf("section for cm-%02d dropped; only diffs may be cut", i)
		}
	}
	if small := Markdown("t", Report{Results: r.Results[:1]}, MaxMarkdown); strings.Contains(small, "truncated") {
		t.Error("small report truncated")
	}
	// Many objects: even excerpts do not fit, so diffs go, then objects;
	// every fence that opens closes, and the note says what was left out.
	var many Report
	for i := range 3000 {
		many.Results = append(many.Results, Result{Ref: resource.Ref{Kind: "ConfigMap", Name: fmt.Sprintf("cm-%04d", i)}, Action: Update, Diff: strings.Repeat("+  k: v\n", 30)})
	}
	got = Markdown("t", many, MaxMarkdown)
	if len(got) > MaxMarkdown || strings.Count(got, "```")%2 != 0 || strings.Count(got, "<details>") != strings.Count(got, "</details>") {
		t.Errorf("%d characters, %d fences, details %d/%d", len(got), strings.Count(got, "```"), strings.Count(got, "<details>"), strings.Count(got, "</details>"))
	}
	if !strings.Contains(got, "objects left out") {
		t.Error("no note about objects left out")
	}
	// A diff containing a fence cannot close the block early.
	fenced := Markdown("t", Report{Results: []Result{{Ref: resource.Ref{Kind: "ConfigMap", Name: "x"}, Action: Update, Diff: "+   ```\n"}}}, MaxMarkdown)
	if !strings.Contains(fenced, "````diff") {
		t.Errorf("fence not lengthened:\n%s", fenced)
	}
}

func TestStripManagedBy(t *testing.T) {
	live := obj(t, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  managedFields:
  - manager: hpa
    operation: Update
    fieldsType: FieldsV1
    fieldsV1: {"f:spec": {"f:replicas": {}}}
  - manager: injector
    operation: Update
    fieldsType: FieldsV1
    fieldsV1: {"f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"sidecar"}': {".": {}, "f:name": {}, "f:image": {}}}}}}}
spec:
  replicas: 7
  template:
    spec:
      containers: [{name: main, image: app}, {name: sidecar, image: proxy}]
`)
	desired := obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 2, template: {spec: {containers: [{name: main, image: app:2}, {name: sidecar, image: proxy:1}]}}}\n")
	StripIgnored(desired, live, []IgnoreDifference{{Kind: "Deployment", ManagedFieldsManagers: []string{"hpa", "injector"}}})
	want := obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: {spec: {containers: [{name: main, image: app:2}]}}}\n")
	if diff := cmp.Diff(want.Object, desired.Object); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestMaskPairOddSecrets(t *testing.T) {
	m := NewMasker()
	desired := obj(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: |\n  password=hunter2\n")
	live := obj(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: [1, 2]}\n")
	other := obj(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: [1, 2]}\n")
	d, _ := m.MaskPair(desired, live)
	if got := d.Object["stringData"]; got != maskSecret {
		t.Errorf("non-map stringData = %v, want it hidden", got)
	}
	if strings.Contains(m.Scrub("error near password=hunter2"), "hunter2") {
		t.Error("the text of a non-map stringData was not learned")
	}
	// A change inside a malformed field shows as a change, by raw value.
	before := obj(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: |\n  password=hunter3\n")
	if d, l := m.MaskPair(desired, before); d.Object["stringData"] != maskChanged || l.Object["stringData"] != maskBefore {
		t.Errorf("a changed non-map stringData masked as %v / %v, want changed / before", d.Object["stringData"], l.Object["stringData"])
	}
	if d, l := m.MaskPair(desired, desired); d.Object["stringData"] != maskUnchanged || l.Object["stringData"] != maskUnchanged {
		t.Errorf("an unchanged non-map stringData masked as %v / %v", d.Object["stringData"], l.Object["stringData"])
	}
	if r := Objects([]*unstructured.Unstructured{desired}, []*unstructured.Unstructured{before}, Options{Masker: m}); r.Results[0].Action != Update {
		t.Errorf("a change inside a malformed Secret is %s, want update", r.Results[0].Action)
	}
	l, o := m.MaskPair(live, other) // lists as values: compared, not a panic
	if l.Object["data"].(map[string]any)["a"] != maskUnchanged || o.Object["data"].(map[string]any)["a"] != maskUnchanged {
		t.Errorf("list values: %v / %v", l.Object["data"], o.Object["data"])
	}
}

func TestStripIgnoredKeepsReservedLabels(t *testing.T) {
	u := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {plumb.dev/app: shop, team: web}}\n")
	StripIgnored(u, nil, []IgnoreDifference{{JSONPointers: []string{"/metadata/labels"}}})
	if diff := cmp.Diff(map[string]string{"plumb.dev/app": "shop"}, u.GetLabels()); diff != "" {
		t.Errorf("labels after ignoring /metadata/labels (-want +got):\n%s", diff)
	}
}

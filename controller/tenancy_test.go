package controller

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plumbhq/plumb/api/v1alpha1"
)

func TestConfine(t *testing.T) {
	obj := func(kind, ns, name string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("v1")
		u.SetKind(kind)
		u.SetNamespace(ns)
		u.SetName(name)
		return u
	}
	app := func(sa, dest string) *v1alpha1.App {
		return &v1alpha1.App{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "web"},
			Spec: v1alpha1.AppSpec{ServiceAccountName: sa, Destination: v1alpha1.Destination{Namespace: dest}}}
	}
	tests := []struct {
		name     string
		confined bool
		app      *v1alpha1.App
		objs     []*unstructured.Unstructured
		want     string // a part of the error, "" for none
	}{
		{"own namespace", true, app("deployer", ""), []*unstructured.Unstructured{obj("ConfigMap", "team-a", "a")}, ""},
		{"another namespace", true, app("deployer", ""), []*unstructured.Unstructured{obj("ConfigMap", "team-a", "a"), obj("ConfigMap", "team-b", "b")},
			"ConfigMap/team-b/b: refused by --no-cross-namespace: an App in namespace team-a may only hold objects there"},
		{"cluster-scoped with an account", true, app("deployer", ""), []*unstructured.Unstructured{obj("Namespace", "", "n")}, ""},
		{"cluster-scoped as plumb", true, app("", ""), []*unstructured.Unstructured{obj("Namespace", "", "n")},
			"Namespace/n: refused by --no-cross-namespace: a cluster-scoped object needs the App to act as a service account"},
		{"not confined", false, app("", ""), []*unstructured.Unstructured{obj("ConfigMap", "team-b", "b")}, ""},
		{"another destination", true, app("deployer", "team-b"), nil, `spec.destination.namespace "team-b": refused by --no-cross-namespace`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Controller{opts: Options{NoCrossNamespace: tt.confined}}
			err := c.confineSpec(tt.app)
			if err == nil {
				err = c.confine(tt.app, tt.objs)
			}
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestPruneApproved(t *testing.T) {
	const commit = "d1e774fcd29162a51f281cf293e1c38121020a65"
	for value, want := range map[string]bool{
		commit: true, "d1e774f": true, "main@sha1:" + commit: true, "d1e77": false, "0000000": false, "": false,
	} {
		app := &v1alpha1.App{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{ApprovePruneAnnotation: value}}}
		if got := pruneApproved(app, commit); got != want {
			t.Errorf("approval %q: %v, want %v", value, got, want)
		}
	}
}

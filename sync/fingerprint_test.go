package sync

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8stypes "k8s.io/apimachinery/pkg/types"

	"github.com/plumbhq/plumb/cluster"
	"github.com/plumbhq/plumb/diff"
	"github.com/plumbhq/plumb/resource"
)

func TestFingerprintMatches(t *testing.T) {
	entry := func(manager string, op metav1.ManagedFieldsOperationType, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, APIVersion: "v1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
	}
	live := func(uid string, managed ...metav1.ManagedFieldsEntry) metav1.Object {
		u := &unstructured.Unstructured{}
		u.SetUID("u1")
		if uid != "" {
			u.SetUID(k8stypes.UID(uid))
		}
		u.SetManagedFields(managed)
		return u
	}
	ours := entry(cluster.FieldManager, metav1.ManagedFieldsOperationApply, `{"f:data":{"f:a":{}}}`)
	applied := fingerprintOf("intent1", live("", ours))
	tests := []struct {
		name   string
		intent string
		live   metav1.Object
		want   bool
	}{
		{"unchanged", "intent1", live("", ours), true},
		{"another manager's fields do not matter", "intent1", live("", ours, entry("kubectl", metav1.ManagedFieldsOperationUpdate, `{"f:metadata":{}}`)), true},
		{"the intent changed", "intent2", live("", ours), false},
		{"plumb lost a field", "intent1", live("", entry(cluster.FieldManager, metav1.ManagedFieldsOperationApply, `{"f:data":{}}`)), false},
		{"plumb owns nothing any more", "intent1", live("", entry("kubectl", metav1.ManagedFieldsOperationUpdate, `{"f:data":{"f:a":{}}}`)), false},
		{"deleted and recreated", "intent1", live("u2", ours), false},
		{"gone", "intent1", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := applied.matches(tt.intent, tt.live); got != tt.want {
				t.Errorf("matches = %v, want %v", got, tt.want)
			}
		})
	}
	if got := parseFingerprint(applied.String()); got != applied {
		t.Errorf("round trip: %+v != %+v", got, applied)
	}
	if (fingerprint{}).matches("intent1", live("", ours)) {
		t.Error("an empty fingerprint matched")
	}
}

func TestInventoryGzipRoundTrip(t *testing.T) {
	big := strings.Repeat("x", gzipAbove)
	gz, err := gzipBase64([]byte(big))
	if err != nil {
		t.Fatal(err)
	}
	if len(gz) > len(big)/10 {
		t.Errorf("gzip of a repetitive inventory is %d bytes", len(gz))
	}
	back, err := gunzip(gz)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(big, back); diff != "" {
		t.Error("round trip changed the inventory")
	}
}

// TestIntentsAndJSON: the shortcut (intentsOf with encode) that hashes an object's own encoding
// gives the intent of the payload Sync sends, and the encoding decodes back
// to the object.
func TestIntentsAndJSON(t *testing.T) {
	obj := func(apiVersion, kind, name string, fields map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: fields}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		u.SetNamespace("shop")
		u.SetName(name)
		owner{name: "shop", namespace: "shop"}.setLabels(u)
		return u
	}
	withRV := obj("v1", "ConfigMap", "copied-from-a-cluster", map[string]any{"data": map[string]any{"a": "1"}})
	withRV.SetResourceVersion("42")
	desired := []*unstructured.Unstructured{
		obj("v1", "ConfigMap", "plain", map[string]any{"data": map[string]any{"a": "1"}}),
		obj("v1", "Secret", "stringdata", map[string]any{"stringData": map[string]any{"password": "hunter2"}}),
		obj("apps/v1", "Deployment", "web", map[string]any{"spec": map[string]any{"replicas": int64(3)}}),
		withRV,
	}
	tests := []struct {
		name   string
		ignore []diff.IgnoreDifference
	}{
		{"no ignore rules", nil},
		{"a JSON pointer rule", []diff.IgnoreDifference{{Kind: "Deployment", JSONPointers: []string{"/spec/replicas"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			intents, encoded, err := intentsOf(desired, tt.ignore, true)
			if err != nil {
				t.Fatal(err)
			}
			want := map[resource.Ref]string{}
			for _, d := range desired {
				want[resource.RefOf(d)] = intentHash(payloadFor(d, nil, tt.ignore))
			}
			if diff := cmp.Diff(want, intents); diff != "" {
				t.Errorf("intents (-payload hashes +got):\n%s", diff)
			}
			if unencoded, _, _ := intentsOf(desired, tt.ignore, false); !cmp.Equal(want, unencoded) {
				t.Errorf("intents without encoding (-payload hashes +got):\n%s", cmp.Diff(want, unencoded))
			}
			for i, d := range desired {
				back := &unstructured.Unstructured{}
				if err := back.UnmarshalJSON(encoded[i]); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(d.Object, back.Object); diff != "" {
					t.Errorf("%s: decoded (-want +got):\n%s", resource.RefOf(d), diff)
				}
			}
		})
	}
	byManager := []diff.IgnoreDifference{{Kind: "Deployment", ManagedFieldsManagers: []string{"hpa"}}}
	if intents, encoded, err := intentsOf(desired, byManager, true); intents != nil || encoded != nil || err != nil {
		t.Errorf("with a rule by field manager: %v, %v, %v; want nothing (the intents depend on live objects)", intents, encoded, err)
	}
}

package sync

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8stypes "k8s.io/apimachinery/pkg/types"
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
	ours := entry(FieldManager, metav1.ManagedFieldsOperationApply, `{"f:data":{"f:a":{}}}`)
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
		{"plumb lost a field", "intent1", live("", entry(FieldManager, metav1.ManagedFieldsOperationApply, `{"f:data":{}}`)), false},
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

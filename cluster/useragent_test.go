package cluster

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWrapAppUserAgent(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.UserAgent())
	}))
	defer srv.Close()
	client := &http.Client{Transport: WrapAppUserAgent(http.DefaultTransport)}
	for _, ctx := range []context.Context{context.Background(), ForApp(context.Background(), "shop/web")} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		req.Header.Set("User-Agent", "plumb/v0.3.0 (linux/amd64) serve")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	want := []string{"plumb/v0.3.0 (linux/amd64) serve", "plumb/v0.3.0 (linux/amd64) serve app=shop/web"}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("User-Agents %q, want %q", got, want)
	}
}

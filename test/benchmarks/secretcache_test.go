// Package benchmarks measures what the operator costs a cluster, on a real kube-apiserver.
package benchmarks

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

const (
	secrets    = 200
	secretSize = 64 << 10 // a Helm release or a CA bundle is this size or larger
)

// BenchmarkSecretInformer compares the heap an informer on every Secret of the cluster holds
// when it caches full objects (what Owns/Watches of corev1.Secret would do) with the
// metadata-only informer the operator uses. Run with `make bench`; compare the heap-MiB of the
// two sub-benchmarks of one run.
func BenchmarkSecretInformer(b *testing.B) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		b.Fatal("KUBEBUILDER_ASSETS is not set: run `make bench`, which builds the control plane")
	}
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		b.Fatalf("start envtest: %v", err)
	}
	b.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	payload := make([]byte, secretSize)
	for i := range secrets {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("s-%03d", i)},
			Data:       map[string][]byte{"blob": payload},
		}
		if err := c.Create(ctx, s); err != nil {
			b.Fatalf("create secret: %v", err)
		}
	}

	for _, tc := range []struct {
		name string
		obj  client.Object
	}{
		{"full", &corev1.Secret{}},
		{"metadata", func() client.Object {
			m := &metav1.PartialObjectMetadata{}
			m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
			return m
		}()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var held float64
			for b.Loop() {
				before := heap()
				ctx, cancel := context.WithCancel(ctx)
				ca, err := cache.New(cfg, cache.Options{Scheme: scheme.Scheme})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := ca.GetInformer(ctx, tc.obj); err != nil {
					b.Fatal(err)
				}
				stopped := make(chan struct{})
				go func() { _ = ca.Start(ctx); close(stopped) }()
				syncCtx, done := context.WithTimeout(ctx, time.Minute)
				if !ca.WaitForCacheSync(syncCtx) {
					b.Fatal("cache did not sync")
				}
				done()
				held += float64(heap()-before) / (1 << 20)
				if n := cachedSecrets(ctx, b, ca, tc.obj); n < secrets {
					b.Fatalf("cache holds %d secrets, want at least %d", n, secrets)
				}
				cancel()
				<-stopped // the next round measures from a heap without this cache
			}
			b.ReportMetric(held/float64(b.N), "heap-MiB")
		})
	}
}

// cachedSecrets counts the Secrets the cache holds (after measuring, so it keeps the cache alive
// until then).
func cachedSecrets(ctx context.Context, b *testing.B, ca cache.Cache, obj client.Object) int {
	b.Helper()
	var list client.ObjectList = &corev1.SecretList{}
	if _, ok := obj.(*metav1.PartialObjectMetadata); ok {
		l := &metav1.PartialObjectMetadataList{}
		l.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
		list = l
	}
	if err := ca.List(ctx, list); err != nil {
		b.Fatal(err)
	}
	return meta.LenList(list)
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

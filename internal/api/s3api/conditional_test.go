package s3api_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestConditionalWritesAndMissingBucket(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	put := func(key, body string, mut func(*s3.PutObjectInput)) error {
		in := &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key), Body: bytes.NewReader([]byte(body))}
		if mut != nil {
			mut(in)
		}
		_, err := s.client.PutObject(ctx, in)
		return err
	}
	if err := put("c", "one", func(in *s3.PutObjectInput) { in.IfNoneMatch = aws.String("*") }); err != nil {
		t.Fatalf("create-only put of a new key: %v", err)
	}
	wantCode(t, put("c", "two", func(in *s3.PutObjectInput) { in.IfNoneMatch = aws.String("*") }), "PreconditionFailed")
	wantCode(t, put("c", "two", func(in *s3.PutObjectInput) { in.IfMatch = aws.String(`"0123"`) }), "PreconditionFailed")
	if got := string(s.mustGet(t, testBucket, "c")); got != "one" {
		t.Fatalf("refused conditional writes changed the object: %q", got)
	}
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String("c")})
	if err != nil {
		t.Fatal(err)
	}
	if err := put("c", "three", func(in *s3.PutObjectInput) { in.IfMatch = head.ETag }); err != nil {
		t.Fatalf("put with the current ETag: %v", err)
	}
	wantCode(t, put("never", "x", func(in *s3.PutObjectInput) { in.IfMatch = aws.String(`"0123"`) }), "NoSuchKey")

	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("no-such-bucket"), Key: aws.String("k"), Body: strings.NewReader("x")})
	wantCode(t, err, "NoSuchBucket")
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String("bad\xffkey"), Body: strings.NewReader("x")})
	if err == nil {
		t.Fatal("a key that is not UTF-8 was stored")
	}
}

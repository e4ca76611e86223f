package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// objstoreClient talks /api/v1 to one node over keep-alive connections.
type objstoreClient struct {
	base string
	hc   *http.Client
}

func newObjstore(c options) *objstoreClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = c.conc
	tr.MaxIdleConnsPerHost = c.conc // one kept-alive connection per worker
	tr.DisableCompression = true
	return &objstoreClient{base: strings.TrimRight(c.url, "/"), hc: &http.Client{Transport: tr}}
}

// getMiss reads key through the node and checks that the node fetched it
// from the backend rather than serving a cached copy.
func (o *objstoreClient) getMiss(ctx context.Context, key string, size int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.base+"/api/v1/get/"+key, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Meta-Fetch", "1")
	resp, err := o.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return fmt.Errorf("get %s: read body: %w", key, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: %s", key, resp.Status)
	}
	if c := resp.Header.Get("X-Objstore-Cache"); c != "MISS" {
		return fmt.Errorf("get %s: X-Objstore-Cache is %q, want MISS", key, c)
	}
	if n != int64(size) {
		return fmt.Errorf("get %s: %d bytes, want %d", key, n, size)
	}
	return nil
}

func (o *objstoreClient) put(ctx context.Context, key string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.base+"/api/v1/put", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-Meta-ID", key)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := o.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, err := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if err != nil {
		return fmt.Errorf("put %s: read answer: %w", key, err)
	}
	io.Copy(io.Discard, resp.Body) // keep the connection reusable
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("put %s: %s: %s", key, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// s3Client sends signed requests straight to the backend server through
// the SDK, as an application would, set up as objstore's s3backend sets up
// its SDK client (same transport limits, no checksums beyond what S3
// requires). (s3backend sends GETs and small PUTs without the SDK's
// middleware stack and net/http's Transport, signed by its own signer:
// see its direct.go. That is part of what objstore is measured on.)
type s3Client struct {
	client *s3.Client
	bucket string
}

func newS3(ctx context.Context, c options) (*s3Client, error) {
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = t.MaxIdleConns
	})
	// gofakes3 checks no signature, but the SDK still signs every request
	// (SigV4), as it would for a real server.
	creds := credentials.NewStaticCredentialsProvider("bench", "bench-secret", "")
	awsCfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(c.region),
		config.WithHTTPClient(hc),
		config.WithCredentialsProvider(creds))
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(c.endpoint)
		o.UsePathStyle = true
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &s3Client{client: client, bucket: c.bucket}, nil
}

// presignGet returns a presigned GET URL of key in c.bucket at objstore's
// S3 API (c.url), signed with the benchmark's credentials.
func presignGet(ctx context.Context, c options, key string) (string, error) {
	c.endpoint = c.url
	s, err := newS3(ctx, c)
	if err != nil {
		return "", err
	}
	req, err := s3.NewPresignClient(s.client).PresignGetObject(ctx,
		&s3.GetObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(key)},
		s3.WithPresignExpires(time.Hour))
	if err != nil {
		return "", fmt.Errorf("presign %s: %w", key, err)
	}
	return req.URL, nil
}

func (s *s3Client) get(ctx context.Context, key string, size int) error {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	defer out.Body.Close()
	n, err := io.Copy(io.Discard, out.Body)
	if err != nil {
		return fmt.Errorf("get %s: read body: %w", key, err)
	}
	if n != int64(size) {
		return fmt.Errorf("get %s: %d bytes, want %d", key, n, size)
	}
	return nil
}

func (s *s3Client) put(ctx context.Context, key string, body []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String("application/octet-stream"),
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

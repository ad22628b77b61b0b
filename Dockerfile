# syntax=docker/dockerfile:1
# presignd: a static, CGO-free binary in a distroless image that runs as
# nonroot. Build: docker build -t presignd .
# Run:   docker run -p 8080:8080 -p 8081:8081 -v presignd-data:/data presignd

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/presignd ./cmd/presignd \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/presignd /usr/local/bin/presignd
COPY --from=build --chown=nonroot:nonroot /out/data /data
VOLUME /data
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/presignd", "healthcheck", "--url", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/presignd"]
CMD ["serve", "--data-dir", "/data"]

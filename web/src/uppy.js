// The entry point of static/uppy/uppy.min.js: the Uppy modules the upload
// page uses, exposed as the global PresigndUppy (build.sh bundles it as an
// IIFE, so the page needs no module loader and no inline script).
export { default as Uppy } from "@uppy/core";
export { default as Dashboard } from "@uppy/dashboard";
export { default as AwsS3 } from "@uppy/aws-s3";
export { default as GoldenRetriever } from "@uppy/golden-retriever";

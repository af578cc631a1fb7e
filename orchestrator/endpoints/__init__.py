"""Endpoints for apps: how an app finds, and follows, the replica that serves its users.

Owns: the serving map cell -> replica (`serving`, pure; the workload controller writes it in the
EdgeWorkload status), each workload's Service (`services`: the manifest, pure, and the service loop,
the one writer of those Services), and the operator's HTTP API for apps in the spirit of ETSI MEC 011
and 021 (`api`: endpoint of a cell, user distribution, relocation stream; `auth`: Kubernetes
TokenReview and SubjectAccessReview; `book`: what the API serves, from the EdgeWorkload watch;
`openapi`: its OpenAPI 3 document).

Must not: write an EdgeWorkload's status (the workload controller's alone), write a spec with the
operator's own identity (the API writes spec.users with the caller's token, as kubectl would), or
talk to the Kubernetes API other than through `orchestrator.kube`.
"""

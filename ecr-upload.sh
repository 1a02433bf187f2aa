#!/usr/bin/env bash
# Build the backend and infrastructure-service images and push them to Amazon ECR.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: ./ecr-upload.sh [options]

Builds the backend and infrastructure-service images from this repository and pushes them to
Amazon ECR, tagged with the git commit and "latest". Creates the ECR repositories if missing.

Options:
  --region REGION       AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION, or us-east-1)
  --account-id ID       AWS account id (default: asked from `aws sts get-caller-identity`)
  --tag TAG             image tag (default: the short git commit, with -dirty for local edits)
  --platform PLATFORM   build for this platform, e.g. linux/arm64 (default: linux/amd64)
  --prefix PREFIX       repository name prefix (default: faas-)
  --only NAME           build and push one image only: backend or infra-service
  --dry-run             print the commands instead of running them
  -h, --help            show this help

Repositories: <prefix>backend and <prefix>infra-service.
Needs: aws CLI v2, docker (with buildx for --platform), git.
EOF
}

REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}"
ACCOUNT_ID="${AWS_ACCOUNT_ID:-}"
TAG=""
PLATFORM="linux/amd64"
PREFIX="faas-"
ONLY=""
DRY_RUN=0

die() {
    echo "ecr-upload.sh: $*" >&2
    exit 2
}

while (($# > 0)); do
    case "$1" in
        --region) REGION="${2:?--region needs a value}"; shift 2 ;;
        --account-id) ACCOUNT_ID="${2:?--account-id needs a value}"; shift 2 ;;
        --tag) TAG="${2:?--tag needs a value}"; shift 2 ;;
        --platform) PLATFORM="${2:?--platform needs a value}"; shift 2 ;;
        --prefix) PREFIX="${2?--prefix needs a value}"; shift 2 ;;
        --only) ONLY="${2:?--only needs a value}"; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

# Print a command, shell-quoted; run it unless this is a dry run.
run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    if ((DRY_RUN == 0)); then
        "$@"
    fi
}

# image name -> Dockerfile
declare -A DOCKERFILES=(
    [backend]=backend/Dockerfile
    [infra-service]=infra/Dockerfile
)
IMAGES=(backend infra-service)
if [[ -n "$ONLY" ]]; then
    [[ -n "${DOCKERFILES[$ONLY]+set}" ]] || die "--only must be backend or infra-service, not $ONLY"
    IMAGES=("$ONLY")
fi

if [[ -z "$TAG" ]]; then
    TAG="$(git rev-parse --short=12 HEAD)"
    if [[ -n "$(git status --porcelain --untracked-files=no)" ]]; then
        TAG="$TAG-dirty"
    fi
fi

if [[ -z "$ACCOUNT_ID" ]]; then
    if ((DRY_RUN)); then
        echo "+ aws sts get-caller-identity --query Account --output text"
        ACCOUNT_ID="<account-id>"
    else
        ACCOUNT_ID="$(aws sts get-caller-identity --query Account --output text)"
    fi
fi

REGISTRY="$ACCOUNT_ID.dkr.ecr.$REGION.amazonaws.com"

for image in "${IMAGES[@]}"; do
    repository="$PREFIX$image"
    if ((DRY_RUN)); then
        echo "+ aws ecr describe-repositories --region $REGION --repository-names $repository" \
            "|| aws ecr create-repository --region $REGION --repository-name $repository" \
            "--image-scanning-configuration scanOnPush=true --encryption-configuration encryptionType=AES256"
    elif ! aws ecr describe-repositories --region "$REGION" --repository-names "$repository" \
        >/dev/null 2>&1; then
        run aws ecr create-repository --region "$REGION" --repository-name "$repository" \
            --image-scanning-configuration scanOnPush=true \
            --encryption-configuration encryptionType=AES256 >/dev/null
    fi
done

# The password travels through the pipe only: never on a command line or in a file.
echo "+ aws ecr get-login-password --region $REGION | docker login --username AWS --password-stdin $REGISTRY"
if ((DRY_RUN == 0)); then
    aws ecr get-login-password --region "$REGION" |
        docker login --username AWS --password-stdin "$REGISTRY"
fi

for image in "${IMAGES[@]}"; do
    target="$REGISTRY/$PREFIX$image"
    run docker build \
        --platform "$PLATFORM" \
        --file "${DOCKERFILES[$image]}" \
        --label "org.opencontainers.image.revision=$TAG" \
        --tag "$target:$TAG" \
        --tag "$target:latest" \
        .
    run docker push "$target:$TAG"
    run docker push "$target:latest"
done

echo "pushed: ${IMAGES[*]} as $REGISTRY/$PREFIX<image>:$TAG (and :latest)"

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Registry;

namespace MultiArch.Build.Tasks.RegistryTest;

/// <summary>The registry self-test, part three: running a check, and pushing what the checks need.</summary>
internal sealed partial class RegistryCapabilityTester
{
    private sealed partial class TestRun
    {
        private async Task CheckAsync(string name, Func<Task<CapabilityResult>> check)
        {
            CapabilityResult result;
            if (_blockedBy is { } reason)
            {
                result = new CapabilityResult(name, CapabilityState.Skipped, reason);
            }
            else
            {
                try
                {
                    result = await check();
                }
                catch (SkipException ex)
                {
                    result = new CapabilityResult(name, CapabilityState.Skipped, ex.Message);
                }
                catch (MultiArchException ex) when (Failure(ex) is { } failure)
                {
                    result = NotSupported(name, failure.Answer, failure.Detail);
                }
            }

            Record(result);
        }

        private void Record(CapabilityResult result)
        {
            _results.Add(result);
            _log.Message(LogLevel.Normal, $"MultiArch: {result.Name}: {result.StateText}: {result.Detail}");
        }

        /// <summary>
        /// The registry's answer to one of the client's operations: a success, or the refusal (status, error codes,
        /// message) its <see cref="RegistryException"/> carries. Failures that end the run (connection, TLS, credentials)
        /// still throw.
        /// </summary>
        private static async Task<RegistryAnswer> AnswerOfAsync(Func<Task> operation)
        {
            try
            {
                await operation();
                return new RegistryAnswer("PUT", string.Empty, (int)HttpStatusCode.Created, [], null);
            }
            catch (RegistryException ex) when (ex.StatusCode is { } status && status != HttpStatusCode.Unauthorized)
            {
                return RegistryAnswer.From(ex);
            }
        }

        /// <summary>A refusal or a content problem to report; null for a failure that ends the run (connection, TLS, credentials).</summary>
        private static (string Detail, RegistryAnswer? Answer)? Failure(MultiArchException exception)
        {
            if (exception is RegistryException { StatusCode: { } status } registry && status != HttpStatusCode.Unauthorized)
            {
                var answer = RegistryAnswer.From(registry);
                return (answer.ToString(), answer);
            }

            return s_contentCodes.Contains(exception.Code) ? ($"{exception.Code}: {exception.Message}", null) : null;
        }

        /// <summary>The image manifests an index of <paramref name="indexType"/> names, pushed by digest once per run.</summary>
        private async Task<IReadOnlyList<Descriptor>> ChildrenAsync(string indexType, CancellationToken cancellationToken)
        {
            if (_children.TryGetValue(indexType, out var done))
            {
                return done;
            }

            if (_childFailures.TryGetValue(indexType, out var failure))
            {
                throw new SkipException(failure);
            }

            var entries = new List<Descriptor>();
            foreach (var image in _images)
            {
                var manifest = image.ManifestFor(indexType);
                var answer = await PushAsync(_target.WithDigest(manifest.Digest), manifest, cancellationToken);
                if (!answer.IsSuccess)
                {
                    _childFailures[indexType] = $"the registry refused the {(MediaTypes.IsDocker(manifest.MediaType) ? "Docker" : "OCI")} image manifest it would name: {answer}";
                    throw new SkipException(_childFailures[indexType]);
                }

                entries.Add(image.Entry(manifest));
            }

            _children[indexType] = entries;
            return entries;
        }

        /// <summary>Pushes an image into the source repository for the cross-repository checks, as the index type the registry took.</summary>
        private async Task<(ImageManifest Manifest, string IndexType)> PushSourceAsync(RegistryTestImage image, string suffix, CancellationToken cancellationToken)
        {
            var indexType = _indexes.ContainsKey(MediaTypes.OciIndex) ? MediaTypes.OciIndex
                : _indexes.ContainsKey(MediaTypes.DockerManifestList) ? MediaTypes.DockerManifestList
                : throw new SkipException("it needs an index type the registry accepts, and it accepted neither");
            var manifest = image.ManifestFor(indexType);
            foreach (var blob in image.Blobs)
            {
                await UploadAsync(_source, blob, cancellationToken);
            }

            var answer = await PushAsync(_source.WithTag(Tag(suffix)), manifest, cancellationToken);
            if (!answer.IsSuccess)
            {
                throw new SkipException($"pushing its source image into {_source.Repository} failed: {answer}");
            }

            return (manifest, indexType);
        }

        /// <summary>Pushes a child brought from the source repository, and an index naming it; the refusal, or null.</summary>
        private async Task<RegistryAnswer?> PushChildAndIndexAsync(RegistryTestImage image, ImageManifest manifest, string indexType, string suffix, CancellationToken cancellationToken)
        {
            var answer = await PushAsync(_target.WithDigest(manifest.Digest), manifest, cancellationToken);
            if (!answer.IsSuccess)
            {
                return answer;
            }

            answer = await PushAsync(_target.WithTag(Tag(suffix)), ImageIndex.Create(indexType, [image.Entry(manifest)]), cancellationToken);
            return answer.IsSuccess ? null : answer;
        }

        private async Task<RegistryAnswer> PushAsync(ImageReference reference, ManifestContent content, CancellationToken cancellationToken)
        {
            var answer = await AnswerOfAsync(() => _client.PutManifestAsync(reference, content, cancellationToken));
            if (answer.IsSuccess)
            {
                _pushed.Add(new Pushed(reference.WithDigest(content.Digest), content, reference.Tag));
            }

            return answer;
        }

        /// <summary>Uploads a blob the way that worked (monolithic first); a failure skips the check that needed it.</summary>
        private async Task UploadAsync(ImageReference repository, byte[] blob, CancellationToken cancellationToken)
        {
            var answer = _monolithicWorks
                ? await AnswerOfAsync(() => _client.UploadBlobAsync(repository, blob, cancellationToken))
                : (await _client.UploadBlobChunkedAsync(repository, blob, ChunkSize(blob), cancellationToken)).Answer;
            if (!answer.IsSuccess)
            {
                throw new SkipException($"uploading a blob into {repository.Repository} failed: {answer}");
            }

            Track(repository, blob);
        }

        private async Task VerifyBlobsAsync(ImageReference repository, IEnumerable<byte[]> blobs, CancellationToken cancellationToken)
        {
            foreach (var blob in blobs)
            {
                // Verifies the digest and size of what comes back (MULTIARCH2005 otherwise).
                await _client.GetBlobAsync(repository, new Descriptor("application/octet-stream", Digest.FromContent(blob), blob.Length), cancellationToken);
            }
        }

        private void Track(ImageReference repository, byte[] blob) => _blobs.Add((repository, Digest.FromContent(blob)));
    }
}

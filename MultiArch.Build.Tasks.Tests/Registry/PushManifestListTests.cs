using System.Net;
using System.Text;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Registry;

/// <summary>
/// <c>ManifestListPublisher</c> against Debian's docker-registry, through a <see cref="FaultProxy"/> that records every
/// request: same repository, mounts, refused mounts, another registry, flattening, Windows, annotations, formats,
/// idempotency, dry runs and coded failures that leave every tag where it was.
/// </summary>
[TestClass]
public sealed class PushManifestListTests : RegistryTestBase
{
    // ---------------------------------------------------------------- where the children come from

    [TestMethod]
    [DataRow(RegistryMode.Open)]
    [DataRow(RegistryMode.Basic)]
    [DataRow(RegistryMode.Token)]
    [DataRow(RegistryMode.Tls)]
    public async Task SameRepository_ThreeSourcesTwoTags_PushesTheExactIndexUnderEveryTag(RegistryMode mode)
    {
        var (server, proxy) = await StartAsync(mode);
        var repository = TestNames.Repository("push-same");
        var images = TestImages.LinuxPlatforms.Select(p => TestImages.Image(p, "same")).ToList();
        await PushTestKit.SeedAsync(server, Cancel, [.. images.Select(i => (repository, i.Platform.Architecture, (object)i))]);
        var spec = $"""
            image: {proxy.Reference(repository, "1.0")}
            tags: ["1", latest]
            manifests:
              - image: {proxy.Reference(repository, "amd64")}
              - image: {proxy.Reference(repository, "arm64")}
              - image: {proxy.Reference(repository, "arm")}
            """;

        var result = await PushTestKit.PushAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);

        // The bytes, stated independently of the product's writer: manifest-tool's layout (§6.2 of the notes).
        var expected = $$"""
            {
              "schemaVersion": 2,
              "mediaType": "application/vnd.oci.image.index.v1+json",
              "manifests": [
                {
                  "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "digest": "{{images[0].Digest}}",
                  "size": {{images[0].Size}},
                  "platform": {
                    "architecture": "amd64",
                    "os": "linux"
                  }
                },
                {
                  "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "digest": "{{images[1].Digest}}",
                  "size": {{images[1].Size}},
                  "platform": {
                    "architecture": "arm64",
                    "os": "linux",
                    "variant": "v8"
                  }
                },
                {
                  "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "digest": "{{images[2].Digest}}",
                  "size": {{images[2].Size}},
                  "platform": {
                    "architecture": "arm",
                    "os": "linux",
                    "variant": "v7"
                  }
                }
              ]
            }
            """.ReplaceLineEndings("\n");
        Assert.AreEqual(expected, Encoding.UTF8.GetString(result.Index.Raw.Span));
        var digest = Digest.FromContent(Encoding.UTF8.GetBytes(expected)).ToString();
        Assert.AreEqual(digest, result.Index.Digest.ToString());
        foreach (var tag in new[] { "1.0", "1", "latest" })
        {
            var served = await RegistryContent.GetManifestAsync(server, repository, tag, Cancel);
            Assert.IsNotNull(served, tag);
            Assert.AreEqual(expected, served.Text, tag);
            Assert.AreEqual(MediaTypes.OciIndex, served.ContentType, tag);
            Assert.AreEqual(digest, served.DigestHeader, tag);
        }

        // Same repository: nothing to copy, no upload at all; one PUT per tag.
        var writes = proxy.Writes();
        CollectionAssert.AreEquivalent(
            new[] { "PUT manifests/1.0", "PUT manifests/1", "PUT manifests/latest" },
            writes.Select(w => $"{w.Method} {w.Request.Path[(w.Request.Path.IndexOf("manifests/", StringComparison.Ordinal))..]}").ToArray(),
            proxy.Transcript());
        Assert.IsTrue(writes.All(w => w.Status == 201 && w.Request.ContentType == MediaTypes.OciIndex));
        TestContext.WriteLine($"same-repo push of 3 sources + 2 tags ({mode}): {proxy.Counts()}");
    }

    [TestMethod]
    public async Task PlatformMismatch_WhileChildrenAreOnTheirWay_MovesNoTag_AndLeavesNothingRunning()
    {
        var (server, proxy) = await StartAsync(RegistryMode.Open);
        var target = TestNames.Repository("mismatch-target");
        var amd64Repository = TestNames.Repository("mismatch-amd64");
        var armRepository = TestNames.Repository("mismatch-arm");
        await PushTestKit.SeedAsync(server, Cancel,
            (amd64Repository, "1", TestImages.Image(TestImages.LinuxAmd64, "mismatch")),
            (armRepository, "1", TestImages.Image(TestImages.LinuxArmV7, "mismatch")));
        // Children from other repositories start into the target as soon as their manifests are read: the arm image's
        // mounts are still on their way when its config shows it is not the arm64 image the input says.
        proxy.When(r => r.IsMount && r.Query.Contains(armRepository, StringComparison.Ordinal), FaultAction.Delay(TimeSpan.FromSeconds(1)));
        var spec = $"""
            image: {proxy.Reference(target, "1.0")}
            manifests:
              - image: {proxy.Reference(amd64Repository, "1")}
                platform:
                  os: linux
                  architecture: amd64
              - image: {proxy.Reference(armRepository, "1")}
                platform:
                  os: linux
                  architecture: arm64
            """;

        var ex = await PushTestKit.PushFailsAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);
        var mark = proxy.Mark;
        await Task.Delay(TimeSpan.FromSeconds(1.5), Cancel);

        Assert.AreEqual("MULTIARCH2013", ex.Code);
        Assert.AreEqual(mark, proxy.Mark, $"a request after the push returned:\n{proxy.Transcript()}");
        Assert.IsNull(await RegistryContent.ResolveAsync(server, target, "1.0", Cancel));
    }

    [TestMethod]
    public async Task RePush_WritesNothing_AndGivesTheSameDigest()
    {
        var (server, proxy) = await StartAsync(RegistryMode.Open);
        var repository = TestNames.Repository("push-again");
        var other = TestNames.Repository("push-again-src");
        var amd64 = TestImages.Image(TestImages.LinuxAmd64, "again");
        var arm64 = TestImages.Image(TestImages.LinuxArm64, "again");
        await PushTestKit.SeedAsync(server, Cancel, (repository, "amd64", amd64), (other, "arm64", arm64));
        var spec = $"""
            image: {proxy.Reference(repository, "1.0")}
            tags: [latest]
            manifests:
              - image: {proxy.Reference(repository, "amd64")}
              - image: {proxy.Reference(other, "arm64")}
            """;
        var environment = TestClients.Environment(proxy);

        var first = await PushTestKit.PushAsync(environment, PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);
        var mark = proxy.Mark;
        var second = await PushTestKit.PushAsync(environment, PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);

        Assert.IsTrue(first.Changed);
        Assert.IsFalse(second.Changed);
        Assert.AreEqual(first.Index.Digest, second.Index.Digest);
        CollectionAssert.AreEqual(first.Index.Raw.ToArray(), second.Index.Raw.ToArray());
        Assert.IsEmpty(proxy.Writes(mark), proxy.Transcript());
        Assert.AreEqual(first.Index.Digest.ToString(), await RegistryContent.ResolveAsync(server, repository, "latest", Cancel));
        TestContext.WriteLine($"re-push: {proxy.Counts(mark)}");
    }

    [TestMethod]
    [DataRow(RegistryMode.Open)]
    [DataRow(RegistryMode.Token)]
    public async Task OtherRepositories_MountEveryBlob_AndPutTheChildManifestsIntoTheTarget(RegistryMode mode)
    {
        var (server, proxy) = await StartAsync(mode);
        var target = TestNames.Repository("push-mount");
        var images = TestImages.LinuxPlatforms.Select(p => TestImages.Image(p, "mount")).ToList();
        var sources = images.Select(i => TestNames.Repository("push-mount-" + i.Platform.Architecture)).ToList();
        await PushTestKit.SeedAsync(server, Cancel, [.. images.Select((image, i) => (sources[i], "1", (object)image))]);
        var spec = $"""
            image: {proxy.Reference(target, "1.0")}
            manifests:
            {string.Join('\n', sources.Select(s => $"  - image: {proxy.Reference(s, "1")}"))}
            """;

        var result = await PushTestKit.PushAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);

        var mounts = proxy.ExchangesFor(r => r.IsMount);
        var expectedMounts = images.SelectMany((image, i) => image.Blobs.Select(b => $"{b.Digest} from {sources[i]}")).ToArray();
        CollectionAssert.AreEquivalent(expectedMounts, mounts.Select(m => $"{m.Request.QueryValue("mount")} from {m.Request.QueryValue("from")}").ToArray(), proxy.Transcript());
        Assert.IsTrue(mounts.All(m => m.Status == 201), proxy.Transcript());
        Assert.IsFalse(proxy.Exchanges.Any(e => e.Request.IsUpload && !e.Request.IsMount), "no blob was streamed");
        Assert.IsFalse(proxy.Exchanges.Any(e => e.Method == "GET" && e.Request.IsBlob && e.Request.Path.Contains(images[0].Layers[0].Digest.ToString(), StringComparison.Ordinal)), "layers are never downloaded");
        var childPuts = proxy.ExchangesFor(r => r.Method == "PUT" && r.IsManifest && r.Path.Contains("/manifests/sha256:", StringComparison.Ordinal));
        CollectionAssert.AreEquivalent(images.Select(i => $"/v2/{target}/manifests/{i.Digest}").ToArray(), childPuts.Select(p => p.Request.Path).ToArray());
        foreach (var image in images)
        {
            var child = await RegistryContent.GetManifestAsync(server, target, image.Digest.ToString(), Cancel);
            CollectionAssert.AreEqual(image.Manifest, child?.Bytes, $"{image.Platform} is in the target repository, byte for byte");
            foreach (var blob in image.Blobs)
            {
                CollectionAssert.AreEqual(blob.Bytes, await RegistryContent.GetBlobAsync(server, target, blob.Digest, Cancel), $"{blob.Digest} mounted");
            }
        }

        var view = IndexView.Parse((await RegistryContent.GetManifestAsync(server, target, "1.0", Cancel))!.Bytes);
        CollectionAssert.AreEqual(images.Select(i => i.Digest.ToString()).ToArray(), view.Entries.Select(e => e.Digest).ToArray());
        Assert.AreEqual(result.Index.Digest.ToString(), await RegistryContent.ResolveAsync(server, target, "1.0", Cancel));
        if (mode == RegistryMode.Token)
        {
            // A mount needs pull on the source as well as push on the target (registry-auth-modes §0.10): one token for both.
            var granted = server.TokenServer!.RequestsFor(target).Where(r => r.Status == 200).ToList();
            Assert.IsTrue(
                sources.All(s => granted.Any(r => r.Scopes.Contains($"repository:{s}:pull") && r.Scopes.Contains($"repository:{target}:pull,push"))),
                string.Join("\n", granted.Select(r => string.Join(' ', r.Scopes))));
        }

        TestContext.WriteLine($"cross-repo push of 3 sources, no extra tag ({mode}): {proxy.Counts()}");
    }

    [TestMethod]
    [DataRow(202, DisplayName = "refused with 202 and an upload session (ECR Public)")]
    [DataRow(405, DisplayName = "refused with 405 UNSUPPORTED")]
    [DataRow(403, DisplayName = "refused with 403 DENIED")]
    public async Task RefusedMount_StreamsTheBlobInstead_AndCancelsTheRefusedSession(int refusal)
    {
        var (server, proxy) = await StartAsync(RegistryMode.Open);
        var source = TestNames.Repository("push-nomount-src");
        var target = TestNames.Repository("push-nomount");
        var image = TestImages.Image(TestImages.LinuxArmV7, "nomount");
        await PushTestKit.SeedAsync(server, Cancel, (source, "1", image));
        proxy.When(r => r.IsMount, refusal == 202 ? FaultAction.RefuseMount : FaultAction.RegistryError(refusal, refusal == 405 ? "UNSUPPORTED" : "DENIED", "no cross-repository mounts here"));
        var spec = $"""
            image: {proxy.Reference(target, "1.0")}
            manifests:
              - image: {proxy.Reference(source, "1")}
                platform:
                  os: linux
                  architecture: arm
                  variant: v7
            """;

        var result = await PushTestKit.PushAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);

        var mounts = proxy.ExchangesFor(r => r.IsMount);
        Assert.HasCount(2, mounts, proxy.Transcript());
        Assert.IsTrue(mounts.All(m => m.Status == refusal));
        foreach (var blob in image.Blobs)
        {
            var uploads = proxy.ExchangesFor(r => r.Method == "PUT" && r.IsUpload && r.QueryValue("digest") == blob.Digest.ToString());
            Assert.AreEqual(201, uploads.Single().Status, $"{blob.Digest} was streamed");
            CollectionAssert.AreEqual(blob.Bytes, await RegistryContent.GetBlobAsync(server, target, blob.Digest, Cancel));
        }

        if (refusal == 202)
        {
            // Every session a refused mount opened was cancelled, and is gone.
            foreach (var mount in mounts)
            {
                var location = new Uri(mount.Header("Location")!);
                Assert.AreEqual(proxy.Host, location.Authority, "the proxy rewrote the upload location");
                var cancel = proxy.ExchangesFor(r => r.Method == "DELETE" && r.PathAndQuery == location.PathAndQuery).Single();
                Assert.AreEqual(204, cancel.Status);
                using var client = new HttpClient();
                using var status = await client.GetAsync(location, Cancel);
                Assert.AreEqual(HttpStatusCode.NotFound, status.StatusCode, "the refused upload session no longer exists");
            }
        }

        CollectionAssert.AreEqual(image.Manifest, (await RegistryContent.GetManifestAsync(server, target, image.Digest.ToString(), Cancel))?.Bytes);
        Assert.AreEqual(result.Index.Digest.ToString(), await RegistryContent.ResolveAsync(server, target, "1.0", Cancel));
        TestContext.WriteLine($"refused mount ({refusal}): {proxy.Counts()}");
    }

    [TestMethod]
    [DataRow(false, DisplayName = "mounted")]
    [DataRow(true, DisplayName = "streamed, the mount refused")]
    public async Task ALayerSharedByTwoEntries_IsBroughtIntoTheTargetOnce(bool refuseMounts)
    {
        var (server, proxy) = await StartAsync(RegistryMode.Open);
        var target = TestNames.Repository("push-shared");
        var amd64 = TestImages.Image(TestImages.LinuxAmd64, "shared", sharedLayers: ["the same app layer on every platform"]);
        var arm64 = TestImages.Image(TestImages.LinuxArm64, "shared", sharedLayers: ["the same app layer on every platform"]);
        var shared = amd64.Layers[1].Digest;
        Assert.AreEqual(shared, arm64.Layers[1].Digest);
        var sources = new[] { TestNames.Repository("push-shared-amd64"), TestNames.Repository("push-shared-arm64") };
        await PushTestKit.SeedAsync(server, Cancel, (sources[0], "1", amd64), (sources[1], "1", arm64));
        if (refuseMounts)
        {
            proxy.When(r => r.IsMount, FaultAction.RefuseMount);
        }

        var spec = $"""
            image: {proxy.Reference(target, "1.0")}
            manifests:
              - image: {proxy.Reference(sources[0], "1")}
              - image: {proxy.Reference(sources[1], "1")}
            """;

        var result = await PushTestKit.PushAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);

        Assert.HasCount(1, proxy.ExchangesFor(r => r.IsMount && r.QueryValue("mount") == shared.ToString()), proxy.Transcript());
        Assert.HasCount(refuseMounts ? 1 : 0, proxy.ExchangesFor(r => r.Method == "PUT" && r.IsUpload && r.QueryValue("digest") == shared.ToString()), proxy.Transcript());
        CollectionAssert.AreEqual(amd64.Layers[1].Bytes, await RegistryContent.GetBlobAsync(server, target, shared, Cancel));
        Assert.AreEqual(result.Index.Digest.ToString(), await RegistryContent.ResolveAsync(server, target, "1.0", Cancel));
    }

    [TestMethod]
    [DataRow(false, DisplayName = "reset before the registry saw the upload")]
    [DataRow(true, DisplayName = "reset after the registry stored the blob")]
    public async Task StreamedUploadCutByAReset_IsCopiedAgain_OrFoundStored(bool afterForwarding)
    {
        // The upload body is a one-shot stream the HTTP layer cannot replay: the copy as a whole is retried.
        var (server, proxy) = await StartAsync(RegistryMode.Open);
        var source = TestNames.Repository("push-reset-src");
        var target = TestNames.Repository("push-reset");
        var image = TestImages.Image(TestImages.LinuxAmd64, "reset-upload");
        var layer = image.Layers[0].Digest;
        await PushTestKit.SeedAsync(server, Cancel, (source, "1", image));
        proxy.When(r => r.IsMount, FaultAction.RefuseMount);
        proxy.When(r => r.Method == "PUT" && r.IsUpload && r.QueryValue("digest") == layer.ToString(), afterForwarding ? FaultAction.ResetAfterForwarding : FaultAction.Reset, times: 1);
        var spec = $"""
            image: {proxy.Reference(target, "1.0")}
            manifests:
              - image: {proxy.Reference(source, "1")}
            """;

        var result = await PushTestKit.PushAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);

        var puts = proxy.ExchangesFor(r => r.Method == "PUT" && r.IsUpload && r.QueryValue("digest") == layer.ToString());
        Assert.AreEqual(0, puts[0].Status, "the first upload was cut");
        Assert.HasCount(afterForwarding ? 1 : 2, puts, proxy.Transcript());
        Assert.AreEqual(afterForwarding ? 0 : 201, puts[^1].Status);
        CollectionAssert.AreEqual(image.Layers[0].Bytes, await RegistryContent.GetBlobAsync(server, target, layer, Cancel));
        Assert.AreEqual(result.Index.Digest.ToString(), await RegistryContent.ResolveAsync(server, target, "1.0", Cancel));
    }

    [TestMethod]
    public async Task AnotherRegistry_CopiesBlobsAndManifests_VerifiedByDigest()
    {
        var origin = await TestRegistries.Open;
        var (server, proxy) = await StartAsync(RegistryMode.Token);
        var source = TestNames.Repository("push-xreg-src");
        var target = TestNames.Repository("push-xreg");
        var index = TestImages.Index([TestImages.LinuxAmd64, TestImages.LinuxArm64], "xreg", withAttestation: true);
        var docker = TestImages.Image(TestImages.LinuxArmV7, "xreg", ImageFormat.Docker);
        await PushTestKit.SeedAsync(origin, Cancel, (source, "multi", index), (source, "armv7", docker));
        var environment = TestClients.Environment(proxy);
        TestClients.AddInsecure(environment, origin.Host);
        var spec = $"""
            image: {proxy.Reference(target, "1.0")}
            manifests:
              - image: {origin.Reference(source, "multi")}
              - image: {origin.Reference(source, "armv7")}
            """;

        var result = await PushTestKit.PushAsync(environment, PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);

        Assert.IsFalse(proxy.Exchanges.Any(e => e.Request.IsMount), "no mount is asked of another registry");
        var manifests = index.Images.Append(docker).Append(index.Attestation!).ToList();
        foreach (var manifest in manifests)
        {
            CollectionAssert.AreEqual(manifest.Manifest, (await RegistryContent.GetManifestAsync(server, target, manifest.Digest.ToString(), Cancel))?.Bytes, $"{manifest.Platform} copied byte for byte");
            foreach (var blob in manifest.Blobs)
            {
                var copied = await RegistryContent.GetBlobAsync(server, target, blob.Digest, Cancel);
                Assert.IsNotNull(copied, $"{blob.Digest} copied");
                Assert.AreEqual(blob.Digest, Digest.FromContent(copied));
            }
        }

        var blobCount = manifests.Sum(m => m.Blobs.Count());
        Assert.HasCount(blobCount, proxy.ExchangesFor(r => r.Method == "PUT" && r.IsUpload && r.QueryValue("digest") is not null).Where(e => e.Status == 201).ToList());
        var view = IndexView.Parse((await RegistryContent.GetManifestAsync(server, target, "1.0", Cancel))!.Bytes);
        CollectionAssert.AreEqual(new[] { "linux/amd64", "linux/arm64/v8", "linux/arm/v7", "unknown/unknown" }, view.Platforms.ToArray());
        CollectionAssert.AreEqual(new[] { MediaTypes.OciManifest, MediaTypes.OciManifest, MediaTypes.DockerManifest, MediaTypes.OciManifest }, view.Entries.Select(e => e.MediaType).ToArray());
        Assert.AreEqual(MediaTypes.OciIndex, view.MediaType, "an attestation is an OCI manifest, so the default is an OCI index");
        Assert.AreEqual(result.Index.Digest.ToString(), await RegistryContent.ResolveAsync(server, target, "1.0", Cancel));
    }

    // ---------------------------------------------------------------- what the index says

    [TestMethod]
    public async Task IndexSourceWithAttestation_IsFlattened_ImagesFirst_AttestationsLastPointingAtTheirSubjects()
    {
        var (server, proxy) = await StartAsync(RegistryMode.Open);
        var source = TestNames.Repository("push-flat-src");
        var target = TestNames.Repository("push-flat");
        var index = TestImages.Index([TestImages.LinuxAmd64, TestImages.LinuxArm64], "flat", withAttestation: true);
        var armv7 = TestImages.Image(TestImages.LinuxArmV7, "flat");
        await PushTestKit.SeedAsync(server, Cancel, (source, "multi", index), (target, "armv7", armv7));
        var spec = $"""
            image: {proxy.Reference(target, "1.0")}
            manifests:
              - image: {proxy.Reference(source, "multi")}
              - image: {proxy.Reference(target, "armv7")}
            """;

        var result = await PushTestKit.PushAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);

        var view = IndexView.Parse((await RegistryContent.GetManifestAsync(server, target, "1.0", Cancel))!.Bytes);
        CollectionAssert.AreEqual(
            new[] { index.Images[0].Digest, index.Images[1].Digest, armv7.Digest, index.Attestation!.Digest }.Select(d => d.ToString()).ToArray(),
            view.Entries.Select(e => e.Digest).ToArray());
        CollectionAssert.AreEqual(new[] { false, false, false, true }, view.Entries.Select(e => e.IsAttestation).ToArray());
        var attestation = view.Entries[^1];
        Assert.AreEqual("unknown/unknown", attestation.Platform);
        Assert.AreEqual(index.Images[0].Digest.ToString(), attestation.Annotations["vnd.docker.reference.digest"]);
        Assert.IsTrue(view.Entries.Any(e => e.Digest == attestation.Annotations["vnd.docker.reference.digest"] && !e.IsAttestation), "the subject is in the same index");
        CollectionAssert.AreEqual(index.Attestation.Manifest, (await RegistryContent.GetManifestAsync(server, target, index.Attestation.Digest.ToString(), Cancel))?.Bytes);
        CollectionAssert.AreEqual(index.Attestation.Layers[0].Bytes, await RegistryContent.GetBlobAsync(server, target, index.Attestation.Layers[0].Digest, Cancel), "the in-toto statement came along");
        Assert.AreEqual(3, result.Images.Count());
    }

    [TestMethod]
    public async Task WindowsEntries_TakeOsVersionFromTheConfig_OrFromTheInput()
    {
        var (server, proxy) = await StartAsync(RegistryMode.Open);
        var repository = TestNames.Repository("push-windows");
        var ltsc2022 = TestImages.Image(TestImages.WindowsAmd64, "windows");                     // config: os.version 10.0.20348.2113, win32k
        var ltsc2019 = TestImages.Image(new Platform("windows", "amd64"), "windows-no-version"); // config: no os.version
        var linux = TestImages.Image(TestImages.LinuxAmd64, "windows");
        await PushTestKit.SeedAsync(server, Cancel, (repository, "ltsc2022", ltsc2022), (repository, "ltsc2019", ltsc2019), (repository, "linux", linux));
        var spec = $"""
            image: {proxy.Reference(repository, "1.0")}
            manifests:
              - image: {proxy.Reference(repository, "linux")}
              - image: {proxy.Reference(repository, "ltsc2022")}
              - image: {proxy.Reference(repository, "ltsc2019")}
                platform:
                  os: windows
                  architecture: amd64
                  os.version: 10.0.17763.2300
                  os.features: [win32k]
            """;

        var result = await PushTestKit.PushAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);

        var view = IndexView.Parse((await RegistryContent.GetManifestAsync(server, repository, "1.0", Cancel))!.Bytes);
        CollectionAssert.AreEqual(new[] { "linux/amd64", "windows/amd64", "windows/amd64" }, view.Platforms.ToArray());
        CollectionAssert.AreEqual(new[] { null, "10.0.20348.2113", "10.0.17763.2300" }, view.Entries.Select(e => e.OsVersion).ToArray());
        CollectionAssert.AreEqual(new[] { "win32k" }, view.Entries[1].OsFeatures.ToArray(), "os.features from the config");
        CollectionAssert.AreEqual(new[] { "win32k" }, view.Entries[2].OsFeatures.ToArray(), "os.features from the input");
        StringAssert.Contains(Encoding.UTF8.GetString(result.Index.Raw.Span), "\"os\": \"windows\",\n        \"os.version\": \"10.0.20348.2113\",\n        \"os.features\": [\n          \"win32k\"\n        ]");
    }

    [TestMethod]
    public async Task PartialPlatform_VariantOrOsVersionOnly_TheConfigFillsInTheRest()
    {
        // testassets/specs/valid/platform-partial.yaml: no os/architecture, but a variant or an os.version still counts.
        var (server, proxy) = await StartAsync(RegistryMode.Open);
        var repository = TestNames.Repository("push-partial");
        var arm = TestImages.Image(new Platform("linux", "arm"), "partial");          // config: no variant
        var windows = TestImages.Image(new Platform("windows", "amd64"), "partial");  // config: no os.version
        var armv7 = TestImages.Image(TestImages.LinuxArmV7, "partial");
        await PushTestKit.SeedAsync(server, Cancel, (repository, "1.0-arm", arm), (repository, "1.0-win", windows), (repository, "1.0-armv7", armv7));
        var spec = File.ReadAllText(Path.Combine(RepoPaths.TestAssets, "specs", "valid", "platform-partial.yaml"))
            .Replace("127.0.0.1:5000/app", proxy.Host + "/" + repository, StringComparison.Ordinal);

        var result = await PushTestKit.PushAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);

        var view = IndexView.Parse((await RegistryContent.GetManifestAsync(server, repository, "1.0", Cancel))!.Bytes);
        CollectionAssert.AreEqual(new[] { "linux/arm/v6", "windows/amd64" }, view.Platforms.ToArray());
        CollectionAssert.AreEqual(new[] { null, "10.0.17763.2300" }, view.Entries.Select(e => e.OsVersion).ToArray());
        CollectionAssert.AreEqual(new[] { arm.Digest.ToString(), windows.Digest.ToString() }, view.Entries.Select(e => e.Digest).ToArray());
        Assert.AreEqual(result.Index.Digest, Digest.FromContent((await RegistryContent.GetManifestAsync(server, repository, "1.0", Cancel))!.Bytes));

        // A partial platform can still contradict the image: v6 for an arm/v7 image.
        var contradicting = $"""
            image: {proxy.Reference(repository, "2.0")}
            manifests:
              - image: {proxy.Reference(repository, "1.0-armv7")}
                platform:
                  variant: v6
            """;
        var ex = await PushTestKit.PushFailsAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(contradicting), new RecordingLog(), Cancel);
        Assert.AreEqual("MULTIARCH2013", ex.Code);
        StringAssert.Contains(ex.Message, "says platform variant v6, but the image's config says linux/arm/v7");
        Assert.IsNull(await RegistryContent.ResolveAsync(server, repository, "2.0", Cancel));
    }

    [TestMethod]
    public async Task Annotations_OnTheIndexAndOnEntries_MakeAnOciIndex_GoEscaped()
    {
        var (server, proxy) = await StartAsync(RegistryMode.Open);
        var repository = TestNames.Repository("push-annotations");
        var amd64 = TestImages.Image(TestImages.LinuxAmd64, "annotations", ImageFormat.Docker);
        var arm64 = TestImages.Image(TestImages.LinuxArm64, "annotations", ImageFormat.Docker);
        await PushTestKit.SeedAsync(server, Cancel, (repository, "amd64", amd64), (repository, "arm64", arm64));
        var spec = $"""
            image: {proxy.Reference(repository, "1.0")}
            annotations:
              org.opencontainers.image.source: "https://example.com/a?b=1&c=<x>"
              org.opencontainers.image.title: My Image
            manifests:
              - image: {proxy.Reference(repository, "amd64")}
                annotations:
                  com.example.tier: "1"
              - image: {proxy.Reference(repository, "arm64")}
            """;

        var result = await PushTestKit.PushAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);

        var served = (await RegistryContent.GetManifestAsync(server, repository, "1.0", Cancel))!;
        var view = IndexView.Parse(served.Bytes);
        Assert.AreEqual(MediaTypes.OciIndex, view.MediaType, "Docker children, but annotations need an OCI index");
        Assert.AreEqual(MediaTypes.OciIndex, served.ContentType);
        Assert.AreEqual("https://example.com/a?b=1&c=<x>", view.Annotations["org.opencontainers.image.source"]);
        Assert.AreEqual("My Image", view.Annotations["org.opencontainers.image.title"]);
        Assert.AreEqual("1", view.Entries[0].Annotations["com.example.tier"]);
        Assert.IsEmpty(view.Entries[1].Annotations);
        CollectionAssert.AreEqual(new[] { MediaTypes.DockerManifest, MediaTypes.DockerManifest }, view.Entries.Select(e => e.MediaType).ToArray());
        StringAssert.Contains(served.Text, "https://example.com/a?b=1\\u0026c=\\u003cx\\u003e", "Go's HTML escaping, as manifest-tool writes it");
        StringAssert.EndsWith(served.Text, "\"org.opencontainers.image.title\": \"My Image\"\n  }\n}", "index annotations last, keys sorted, no trailing newline");
        Assert.AreEqual(result.Index.Digest, served.Digest);
    }

    [TestMethod]
    [DataRow("docker", null, MediaTypes.DockerManifestList, DisplayName = "all Docker children, no format: Docker list")]
    [DataRow("oci", null, MediaTypes.OciIndex, DisplayName = "all OCI children, no format: OCI index")]
    [DataRow("mixed", null, MediaTypes.OciIndex, DisplayName = "mixed children, no format: OCI index")]
    [DataRow("docker", "oci", MediaTypes.OciIndex, DisplayName = "Docker children, oci: OCI index")]
    [DataRow("docker", "docker", MediaTypes.DockerManifestList, DisplayName = "Docker children, docker: Docker list")]
    public async Task Format_FollowsTheRule_AndTheChildrenKeepTheirTypes(string children, string? format, string expected)
    {
        var (server, proxy) = await StartAsync(RegistryMode.Open);
        var repository = TestNames.Repository("push-format");
        var amd64 = TestImages.Image(TestImages.LinuxAmd64, "format", children == "oci" ? ImageFormat.Oci : ImageFormat.Docker);
        var arm64 = TestImages.Image(TestImages.LinuxArm64, "format", children == "docker" ? ImageFormat.Docker : ImageFormat.Oci);
        await PushTestKit.SeedAsync(server, Cancel, (repository, "amd64", amd64), (repository, "arm64", arm64));
        var spec = $"""
            image: {proxy.Reference(repository, "1.0")}
            manifests:
              - image: {proxy.Reference(repository, "amd64")}
              - image: {proxy.Reference(repository, "arm64")}
            """;

        var result = await PushTestKit.PushAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec, format), new RecordingLog(), Cancel);

        var served = (await RegistryContent.GetManifestAsync(server, repository, "1.0", Cancel))!;
        var view = IndexView.Parse(served.Bytes);
        Assert.AreEqual(expected, served.ContentType);
        Assert.AreEqual(expected, view.MediaType);
        Assert.AreEqual(expected, proxy.Writes().Single().Request.ContentType);
        CollectionAssert.AreEqual(new[] { amd64.MediaType, arm64.MediaType }, view.Entries.Select(e => e.MediaType).ToArray());
        CollectionAssert.AreEqual(new[] { amd64.Digest.ToString(), arm64.Digest.ToString() }, view.Entries.Select(e => e.Digest).ToArray());
        var sizeFirst = served.Text.IndexOf("\"size\"", StringComparison.Ordinal) < served.Text.IndexOf("\"digest\"", StringComparison.Ordinal);
        Assert.AreEqual(expected == MediaTypes.DockerManifestList, sizeFirst, "a Docker list writes size before digest, an OCI index digest before size");
        Assert.AreEqual(result.Index.Digest, served.Digest);
    }

    // ---------------------------------------------------------------- writing nothing

    [TestMethod]
    public async Task DryRun_ReadsOnly_AndLogsTheIndexAndItsDigest()
    {
        var (server, proxy) = await StartAsync(RegistryMode.Open);
        var repository = TestNames.Repository("push-dry");
        var source = TestNames.Repository("push-dry-src");
        var previous = TestImages.Image(TestImages.LinuxAmd64, "previous");
        var amd64 = TestImages.Image(TestImages.LinuxAmd64, "dry");
        var arm64 = TestImages.Image(TestImages.LinuxArm64, "dry");
        await PushTestKit.SeedAsync(server, Cancel, (repository, "1.0", previous), (repository, "amd64", amd64), (source, "arm64", arm64));
        var spec = $"""
            image: {proxy.Reference(repository, "1.0")}
            tags: [latest]
            manifests:
              - image: {proxy.Reference(repository, "amd64")}
              - image: {proxy.Reference(source, "arm64")}
            """;
        var log = new RecordingLog();

        var dry = await PushTestKit.PushAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec) with { DryRun = true }, log, Cancel);

        Assert.IsEmpty(proxy.Writes(), proxy.Transcript());
        Assert.IsTrue(proxy.Exchanges.All(e => e.Method is "GET" or "HEAD"));
        Assert.IsTrue(dry.DryRun);
        Assert.IsEmpty(dry.PushedReferences);
        Assert.AreEqual(previous.Digest.ToString(), await RegistryContent.ResolveAsync(server, repository, "1.0", Cancel));
        Assert.IsNull(await RegistryContent.ResolveAsync(server, repository, "latest", Cancel));
        Assert.IsNull(await RegistryContent.GetManifestAsync(server, repository, arm64.Digest.ToString(), Cancel), "the cross-repository child was not copied");
        CollectionAssert.Contains(log.Lines.ToList(), "High: " + Encoding.UTF8.GetString(dry.Index.Raw.Span));
        CollectionAssert.Contains(log.Lines.ToList(), $"High: Dry run: would push {proxy.Host}/{repository}@{dry.Index.Digest} (2 platforms: linux/amd64, linux/arm64/v8); nothing was written to the registry.");

        // What the dry run showed is what a real push writes.
        var real = await PushTestKit.PushAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);
        Assert.AreEqual(dry.Index.Digest, real.Index.Digest);
        Assert.AreEqual(dry.Index.Digest.ToString(), await RegistryContent.ResolveAsync(server, repository, "1.0", Cancel));
    }

    [TestMethod]
    [DataRow(true, DisplayName = "the target tag exists: it is the canary, refused alone")]
    [DataRow(false, DisplayName = "a new target tag: every tag is written at once, and refused alike")]
    public async Task RegistryRejectingTheIndexType_IsACodedError_AndNoTagMoves(bool targetExists)
    {
        var (server, proxy) = await StartAsync(RegistryMode.Open);
        var repository = TestNames.Repository("push-reject");
        var previous = TestImages.Image(TestImages.LinuxAmd64, "previous");
        var amd64 = TestImages.Image(TestImages.LinuxAmd64, "reject");
        await PushTestKit.SeedAsync(server, Cancel, (repository, "latest", previous), (repository, "amd64", amd64));
        if (targetExists)
        {
            await PushTestKit.SeedAsync(server, Cancel, (repository, "1.0", previous));
        }

        proxy.When(r => r.Method == "PUT" && r.ContentType == MediaTypes.OciIndex, FaultAction.RegistryError(400, "MANIFEST_INVALID", "manifest invalid: unknown media type"));
        var spec = $"""
            image: {proxy.Reference(repository, "1.0")}
            tags: [latest]
            manifests:
              - image: {proxy.Reference(repository, "amd64")}
            """;

        var ex = await PushTestKit.PushFailsAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);

        Assert.AreEqual("MULTIARCH1022", ex.Code, ex.Message);
        StringAssert.Contains(ex.Message, MediaTypes.OciIndex);
        StringAssert.Contains(ex.Message, "some children are OCI manifests", "an OCI child: a Docker manifest list is no way out");
        StringAssert.Contains(ex.Message, "MANIFEST_INVALID");
        StringAssert.Contains(ex.Message, "HTTP 400");
        Assert.AreEqual(targetExists ? previous.Digest.ToString() : null, await RegistryContent.ResolveAsync(server, repository, "1.0", Cancel));
        Assert.AreEqual(previous.Digest.ToString(), await RegistryContent.ResolveAsync(server, repository, "latest", Cancel));
        var writes = proxy.Writes();
        Assert.HasCount(targetExists ? 1 : 2, writes, targetExists ? "the canary's refusal stops the push: no other tag is tried" : "both tags in one round trip");
        Assert.IsTrue(writes.All(w => w.Status == 400), proxy.Transcript());
    }

    [TestMethod]
    [DataRow("latest", DisplayName = "an existing tag is refused (protected, immutable)")]
    [DataRow("new-b", DisplayName = "a new tag is refused")]
    public async Task RefusedTag_PutsTheTargetTagBack_AndNamesTheTagsAlreadyMoved(string refused)
    {
        var (server, proxy) = await StartAsync(RegistryMode.Open);
        var repository = TestNames.Repository("push-tag-refused");
        var previous = TestImages.Image(TestImages.LinuxArmV7, "previous");
        var amd64 = TestImages.Image(TestImages.LinuxAmd64, "tag-refused");
        await PushTestKit.SeedAsync(server, Cancel, (repository, "1.0", previous), (repository, "latest", previous), (repository, "amd64", amd64));
        proxy.When(r => r.Is("PUT", "/manifests/" + refused), FaultAction.RegistryError(400, "TAG_INVALID", "tag is immutable"));
        var spec = $"""
            image: {proxy.Reference(repository, "1.0")}
            tags: [new-a, latest, new-b]
            manifests:
              - image: {proxy.Reference(repository, "amd64")}
            """;
        var log = new RecordingLog();

        var ex = await PushTestKit.PushFailsAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec), log, Cancel);

        Assert.AreEqual("MULTIARCH1006", ex.Code);
        StringAssert.Contains(ex.Message, "TAG_INVALID");
        Assert.AreEqual(previous.Digest.ToString(), await RegistryContent.ResolveAsync(server, repository, "1.0", Cancel), "the target tag moved first, then was put back");
        var tagPuts = proxy.ExchangesFor(r => r.Method == "PUT" && r.IsManifest).Select(e => (Tag: e.Request.Path[(e.Request.Path.LastIndexOf('/') + 1)..], e.Status)).ToList();
        Assert.AreEqual(("1.0", 201), tagPuts[0], "the target tag is the canary: written first, alone");
        Assert.AreEqual(("1.0", 201), tagPuts[^1], "and put back last");
        Assert.Contains((refused, 400), tagPuts);
        CollectionAssert.Contains(log.Lines.ToList(), $"Normal: Put {proxy.Host}/{repository}:1.0 back to {previous.Digest}, because the push failed.");
        foreach (var moved in tagPuts.Skip(1).SkipLast(1).Where(p => p.Status == 201))
        {
            Assert.IsTrue(log.Lines.Any(l => l.StartsWith("warning", StringComparison.Ordinal) && l.Contains($"{repository}:{moved.Tag} was already moved", StringComparison.Ordinal)), string.Join('\n', log.Lines));
        }

        if (refused == "latest")
        {
            Assert.AreEqual(previous.Digest.ToString(), await RegistryContent.ResolveAsync(server, repository, "latest", Cancel), "refused: unchanged");
        }
        else
        {
            Assert.IsNull(await RegistryContent.ResolveAsync(server, repository, "new-b", Cancel));
        }
    }

    [TestMethod]
    public async Task NewTargetTag_AnotherTagRefused_NamesEveryTagThatMoved()
    {
        var (server, proxy) = await StartAsync(RegistryMode.Open);
        var repository = TestNames.Repository("push-new-tag-refused");
        var previous = TestImages.Image(TestImages.LinuxArmV7, "previous");
        var amd64 = TestImages.Image(TestImages.LinuxAmd64, "new-tag-refused");
        await PushTestKit.SeedAsync(server, Cancel, (repository, "latest", previous), (repository, "amd64", amd64));
        proxy.When(r => r.Is("PUT", "/manifests/latest"), FaultAction.RegistryError(400, "TAG_INVALID", "tag is immutable"));
        var spec = $"""
            image: {proxy.Reference(repository, "2.0")}
            tags: [latest, stable]
            manifests:
              - image: {proxy.Reference(repository, "amd64")}
            """;
        var log = new RecordingLog();

        var ex = await PushTestKit.PushFailsAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec), log, Cancel);

        Assert.AreEqual("MULTIARCH1006", ex.Code);
        var puts = proxy.ExchangesFor(r => r.Method == "PUT" && r.IsManifest).ToList();
        Assert.HasCount(3, puts, "the three tags side by side, nothing put back (2.0 had no earlier target): " + proxy.Transcript());
        Assert.AreEqual(previous.Digest.ToString(), await RegistryContent.ResolveAsync(server, repository, "latest", Cancel), "refused: unchanged");
        var index = await RegistryContent.ResolveAsync(server, repository, "2.0", Cancel);
        Assert.IsNotNull(index);
        Assert.AreEqual(index, await RegistryContent.ResolveAsync(server, repository, "stable", Cancel));
        var warnings = log.Lines.Where(l => l.StartsWith("warning", StringComparison.Ordinal)).ToList();
        Assert.IsTrue(warnings.Any(l => l.Contains($"{repository}:2.0 did not exist before this push and now points at {index}", StringComparison.Ordinal)), string.Join('\n', log.Lines));
        Assert.IsTrue(warnings.Any(l => l.Contains($"{repository}:stable was already moved to the complete index {index}", StringComparison.Ordinal)), string.Join('\n', log.Lines));
    }

    [TestMethod]
    public async Task UnreachableSourceRegistry_IsACodedError_AndNothingIsWritten()
    {
        var (server, proxy) = await StartAsync(RegistryMode.Open);
        var repository = TestNames.Repository("push-unreachable");
        var previous = TestImages.Image(TestImages.LinuxAmd64, "previous");
        var amd64 = TestImages.Image(TestImages.LinuxAmd64, "unreachable");
        await PushTestKit.SeedAsync(server, Cancel, (repository, "1.0", previous), (repository, "amd64", amd64));
        var down = "127.0.0.1:" + RegistryServer.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var environment = TestClients.Environment(proxy);
        TestClients.AddInsecure(environment, down);
        var spec = $"""
            image: {proxy.Reference(repository, "1.0")}
            manifests:
              - image: {proxy.Reference(repository, "amd64")}
              - image: {down}/app:arm64
            """;

        var ex = await PushTestKit.PushFailsAsync(environment, PushTestKit.FromSpec(spec) with { IgnoreMissing = true }, new RecordingLog(), Cancel,
            settings => settings with { RetryBaseDelay = TimeSpan.FromMilliseconds(1) });

        Assert.AreEqual("MULTIARCH1023", ex.Code, ex.ToString());
        StringAssert.Contains(ex.Message, down);
        Assert.IsEmpty(proxy.Writes());
        Assert.AreEqual(previous.Digest.ToString(), await RegistryContent.ResolveAsync(server, repository, "1.0", Cancel));
    }

    [TestMethod]
    public async Task IgnoreMissing_SkipsOnlyASourceThatIsNotThere_WithAWarning()
    {
        var (server, proxy) = await StartAsync(RegistryMode.Open);
        var repository = TestNames.Repository("push-missing");
        var amd64 = TestImages.Image(TestImages.LinuxAmd64, "missing");
        var armv7 = TestImages.Image(TestImages.LinuxArmV7, "missing");
        await PushTestKit.SeedAsync(server, Cancel, (repository, "amd64", amd64), (repository, "armv7", armv7));
        var spec = $"""
            image: {proxy.Reference(repository, "1.0")}
            manifests:
              - image: {proxy.Reference(repository, "amd64")}
              - image: {proxy.Reference(repository, "arm64")}
              - image: {proxy.Reference(TestNames.Repository("never-pushed"), "arm64")}
              - image: {proxy.Reference(repository, "armv7")}
            """;
        var log = new RecordingLog();

        var without = await PushTestKit.PushFailsAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);
        Assert.IsTrue(without.Code is "MULTIARCH2003" or "MULTIARCH2004", without.ToString());
        Assert.IsEmpty(proxy.Writes());

        var result = await PushTestKit.PushAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec) with { IgnoreMissing = true }, log, Cancel);

        CollectionAssert.AreEqual(new[] { amd64.Digest, armv7.Digest }, result.Index.Manifests.Select(m => m.Digest).ToArray());
        var warnings = log.Lines.Where(l => l.StartsWith("warning ", StringComparison.Ordinal)).ToList();
        Assert.HasCount(2, warnings, string.Join('\n', log.Lines));
        StringAssert.StartsWith(warnings.Single(w => w.Contains(":arm64'", StringComparison.Ordinal) && w.Contains(repository, StringComparison.Ordinal)), "warning MULTIARCH2003: ");
        Assert.AreEqual(result.Index.Digest.ToString(), await RegistryContent.ResolveAsync(server, repository, "1.0", Cancel));
    }

    [TestMethod]
    [DataRow("denied", "MULTIARCH1005", DisplayName = "403 DENIED on the source")]
    [DataRow("no-credentials", "MULTIARCH1004", DisplayName = "a Basic registry and no credentials")]
    [DataRow("broken-image", "MULTIARCH1006", DisplayName = "the source exists but its config blob is gone")]
    public async Task IgnoreMissing_StillFailsOnEveryOtherError_AndNothingIsWritten(string failure, string code)
    {
        var (server, proxy) = await StartAsync(RegistryMode.Open);
        var repository = TestNames.Repository("push-missing-auth");
        var previous = TestImages.Image(TestImages.LinuxAmd64, "previous");
        var amd64 = TestImages.Image(TestImages.LinuxAmd64, "auth");
        var arm64 = TestImages.Image(TestImages.LinuxArm64, "auth");
        await PushTestKit.SeedAsync(server, Cancel, (repository, "1.0", previous), (repository, "amd64", amd64), (repository, "arm64", arm64));
        var environment = TestClients.Environment(proxy);
        var second = proxy.Reference(repository, "arm64");
        switch (failure)
        {
            case "denied":
                proxy.When(r => r.Is("GET", "/manifests/arm64"), FaultAction.RegistryError(403, "DENIED", "requested access to the resource is denied"));
                break;
            case "no-credentials":
                var basic = await TestRegistries.Basic;
                var secured = TestNames.Repository("push-missing-basic");
                await PushTestKit.SeedAsync(basic, Cancel, (secured, "arm64", arm64));
                TestClients.AddInsecure(environment, basic.Host);
                second = basic.Reference(secured, "arm64");
                break;
            case "broken-image":
                proxy.When(r => r.Is("GET", $"/blobs/{arm64.ConfigDigest}"), FaultAction.RegistryError(404, "BLOB_UNKNOWN", "blob unknown to registry"));
                break;
        }

        var spec = $"""
            image: {proxy.Reference(repository, "1.0")}
            manifests:
              - image: {proxy.Reference(repository, "amd64")}
              - image: {second}
            """;

        var ex = await PushTestKit.PushFailsAsync(environment, PushTestKit.FromSpec(spec) with { IgnoreMissing = true }, new RecordingLog(), Cancel);

        Assert.AreEqual(code, ex.Code, ex.ToString());
        Assert.IsEmpty(proxy.Writes());
        Assert.AreEqual(previous.Digest.ToString(), await RegistryContent.ResolveAsync(server, repository, "1.0", Cancel));
    }

    private async Task<(RegistryServer Server, FaultProxy Proxy)> StartAsync(RegistryMode mode)
    {
        var server = await TestRegistries.Get(mode);
        var proxy = await ProxyAsync(server);
        return (server, proxy);
    }
}

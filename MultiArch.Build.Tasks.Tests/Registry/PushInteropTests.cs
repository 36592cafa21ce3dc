using System.Text.Json;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Publishing;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Registry;

/// <summary>
/// Other clients read what we push: <c>skopeo inspect --raw</c> returns exactly our bytes, the <c>docker</c> CLI
/// (<c>docker manifest inspect --insecure</c>, no engine needed) reads every index and list, and
/// <c>skopeo copy --all</c> copies a pushed reference elsewhere with its digest intact.
/// </summary>
[TestClass]
public sealed class PushInteropTests
{
    public TestContext TestContext { get; set; } = null!;

    private CancellationToken Cancel => TestContext.CancellationToken;

    public static IEnumerable<object[]> Indexes =>
    [
        ["docker-list"],
        ["oci-index"],
        ["oci-windows-attestation-annotations"],
    ];

    [TestMethod]
    [DynamicData(nameof(Indexes))]
    public async Task SkopeoInspectRaw_ReturnsExactlyOurBytes_ByTagAndByDigest(string kind)
    {
        var (server, repository, result) = await PushAsync(kind);

        var byTag = await SkopeoPusher.SkopeoInspectRawAsync(server, server.Reference(repository, "1.0"), cancellationToken: Cancel);
        var byDigest = await SkopeoPusher.SkopeoInspectRawAsync(server, server.Reference(repository, result.Index.Digest.ToString()), cancellationToken: Cancel);

        CollectionAssert.AreEqual(result.Index.Raw.ToArray(), byTag);
        CollectionAssert.AreEqual(result.Index.Raw.ToArray(), byDigest);
    }

    [TestMethod]
    [DynamicData(nameof(Indexes))]
    public async Task DockerManifestInspect_ReadsEveryPushedIndex(string kind)
    {
        var (server, repository, result) = await PushAsync(kind);
        var home = Path.Combine(Path.GetTempPath(), "multiarch-tests", "docker-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(home);
        try
        {
            var run = await ProcessRunner.RunAsync(
                "docker", ["manifest", "inspect", "--insecure", server.Reference(repository, "1.0")], TimeSpan.FromSeconds(60),
                new Dictionary<string, string?> { ["DOCKER_CONFIG"] = home, ["HOME"] = home }, cancellationToken: Cancel);
            run.EnsureSuccess();

            // The docker CLI re-serialises (its own indent, index annotations dropped): compare what it understood.
            using var json = JsonDocument.Parse(run.StandardOutput);
            var root = json.RootElement;
            Assert.AreEqual(result.Index.MediaType, root.GetProperty("mediaType").GetString());
            var manifests = root.GetProperty("manifests").EnumerateArray().ToList();
            Assert.HasCount(result.Index.Manifests.Length, manifests);
            foreach (var (ours, theirs) in result.Index.Manifests.Zip(manifests))
            {
                Assert.AreEqual(ours.Digest.ToString(), theirs.GetProperty("digest").GetString());
                Assert.AreEqual(ours.Size, theirs.GetProperty("size").GetInt64());
                Assert.AreEqual(ours.MediaType, theirs.GetProperty("mediaType").GetString());
                var platform = theirs.GetProperty("platform");
                Assert.AreEqual(ours.Platform!.Os, platform.GetProperty("os").GetString());
                Assert.AreEqual(ours.Platform.Architecture, platform.GetProperty("architecture").GetString());
                Assert.AreEqual(ours.Platform.Variant, platform.TryGetProperty("variant", out var variant) ? variant.GetString() : null);
                Assert.AreEqual(ours.Platform.OsVersion, platform.TryGetProperty("os.version", out var version) ? version.GetString() : null);
            }
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    [TestMethod]
    public async Task SkopeoCopyAll_IntoAnotherRepository_KeepsTheDigestAndEveryChild()
    {
        var (server, repository, result) = await PushAsync("oci-windows-attestation-annotations");
        var copy = TestNames.Repository("interop-copy");

        var run = await SkopeoPusher.RunAsync(
            ["copy", "--all", "--preserve-digests", "--retry-times", "0", .. SkopeoPusher.ConnectionArguments(server, "src-"), .. SkopeoPusher.ConnectionArguments(server, "dest-"),
                "docker://" + server.Reference(repository, "1.0"), "docker://" + server.Reference(copy, "copied")],
            Cancel);
        run.EnsureSuccess();

        Assert.AreEqual(result.Index.Digest.ToString(), await RegistryContent.ResolveAsync(server, copy, "copied", Cancel));
        CollectionAssert.AreEqual(result.Index.Raw.ToArray(), (await RegistryContent.GetManifestAsync(server, copy, "copied", Cancel))?.Bytes);
        foreach (var child in result.Index.Manifests)
        {
            Assert.AreEqual(child.Digest.ToString(), await RegistryContent.ResolveAsync(server, copy, child.Digest.ToString(), Cancel), $"{child.Platform} copied");
        }
    }

    /// <summary>Pushes one kind of index to the open registry with the publisher; returns what it pushed.</summary>
    private async Task<(RegistryServer Server, string Repository, PushResult Result)> PushAsync(string kind)
    {
        var server = await TestRegistries.Open;
        var repository = TestNames.Repository("interop-" + kind);
        var source = TestNames.Repository("interop-src-" + kind);
        var format = kind == "docker-list" ? ImageFormat.Docker : ImageFormat.Oci;
        var images = TestImages.LinuxPlatforms.Select(p => TestImages.Image(p, "interop-" + kind, format)).ToList();
        List<(string, string, object)> seed = [.. images.Select(i => (repository, i.Platform.Architecture, (object)i))];
        var spec = $"""
            image: {server.Reference(repository, "1.0")}
            tags: [latest]
            manifests:
            {string.Join('\n', images.Select(i => $"  - image: {server.Reference(repository, i.Platform.Architecture)}"))}
            """;
        if (kind == "oci-windows-attestation-annotations")
        {
            var index = TestImages.Index([TestImages.WindowsAmd64], "interop", withAttestation: true);
            seed.Add((source, "windows", index));
            spec += $"\n  - image: {server.Reference(source, "windows")}\n    annotations: {{com.example.os: windows}}\nannotations:\n  org.opencontainers.image.title: interop\n";
        }

        await PushTestKit.SeedAsync(server, Cancel, [.. seed]);
        var result = await PushTestKit.PushAsync(TestClients.Environment(server), PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);
        Assert.AreEqual(format == ImageFormat.Docker ? MediaTypes.DockerManifestList : MediaTypes.OciIndex, result.Index.MediaType);
        return (server, repository, result);
    }
}

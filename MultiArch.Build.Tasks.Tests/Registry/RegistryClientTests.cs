using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Registry;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Registry;

/// <summary>The registry client against Debian's docker-registry in every auth mode, with images pushed by skopeo.</summary>
[TestClass]
public sealed class RegistryClientTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DataRow(RegistryMode.Open)]
    [DataRow(RegistryMode.Basic)]
    [DataRow(RegistryMode.Token)]
    [DataRow(RegistryMode.Tls)]
    public async Task ReadsIndexChildrenAndConfigsByTagAndDigest(RegistryMode mode)
    {
        var server = await TestRegistries.Get(mode);
        var repository = TestNames.Repository("client-" + mode.ToString().ToLowerInvariant());
        var index = TestImages.Index(TestImages.AllPlatforms, "client", withAttestation: true);
        await SkopeoPusher.PushAsync(server, repository, "multi", index, TestContext.CancellationToken);
        using var client = TestClients.Client(server);
        var reference = ImageReference.Parse(server.Reference(repository, "multi"));

        var byTag = await client.GetManifestAsync(reference, TestContext.CancellationToken);
        Assert.IsInstanceOfType<ImageIndex>(byTag);
        CollectionAssert.AreEqual(index.Bytes, byTag.Raw.ToArray());
        Assert.AreEqual(index.Digest, byTag.Digest);
        Assert.AreEqual(MediaTypes.OciIndex, byTag.MediaType);

        var byDigest = await client.GetManifestAsync(reference.WithDigest(index.Digest), TestContext.CancellationToken);
        Assert.AreEqual(index.Digest, byDigest.Digest);

        var head = await client.HeadManifestAsync(reference, TestContext.CancellationToken);
        Assert.IsNotNull(head);
        Assert.AreEqual(index.Digest, head.Digest);
        Assert.AreEqual(index.Size, head.Size);
        Assert.AreEqual(MediaTypes.OciIndex, head.MediaType);

        var children = ((ImageIndex)byTag).Manifests;
        Assert.HasCount(TestImages.AllPlatforms.Count + 1, children);
        Assert.IsTrue(children[^1].IsAttestation);
        var windows = children.Single(c => c.Platform?.Os == "windows");
        Assert.AreEqual("10.0.20348.2113", windows.Platform!.OsVersion);

        var child = (ImageManifest)await client.GetManifestAsync(reference.WithDigest(windows.Digest), TestContext.CancellationToken);
        var config = ImageConfig.Parse(await client.GetBlobAsync(reference, child.Config, TestContext.CancellationToken), "config");
        Assert.AreEqual(TestImages.WindowsAmd64, config.Platform);
    }

    [TestMethod]
    public async Task ReadsDockerSchema2ManifestsAndLists()
    {
        var server = await TestRegistries.Open;
        var repository = TestNames.Repository("client-docker");
        var list = TestImages.Index(TestImages.LinuxPlatforms, "docker", ImageFormat.Docker);
        await SkopeoPusher.PushAsync(server, repository, "list", list, TestContext.CancellationToken);
        using var client = TestClients.Client(server);
        var manifest = await client.GetManifestAsync(ImageReference.Parse(server.Reference(repository, "list")), TestContext.CancellationToken);
        Assert.AreEqual(MediaTypes.DockerManifestList, manifest.MediaType);
        Assert.AreEqual(list.Digest, manifest.Digest);
        var first = ((ImageIndex)manifest).Manifests[0];
        Assert.AreEqual(MediaTypes.DockerManifest, first.MediaType);
        var image = await client.GetManifestAsync(ImageReference.Parse(server.Reference(repository, first.Digest.ToString())), TestContext.CancellationToken);
        Assert.AreEqual(MediaTypes.DockerManifest, image.MediaType);
        Assert.AreEqual(MediaTypes.DockerConfig, ((ImageManifest)image).Config.MediaType);
    }

    [TestMethod]
    public async Task UnknownTagAndUnknownRepositoryAreCodedErrors()
    {
        var server = await TestRegistries.Open;
        var repository = TestNames.Repository("client-missing");
        await SkopeoPusher.PushAsync(server, repository, "1", TestImages.Image(TestImages.LinuxAmd64), TestContext.CancellationToken);
        using var client = TestClients.Client(server);

        var tag = await Assert.ThrowsExactlyAsync<RegistryException>(() => client.GetManifestAsync(ImageReference.Parse(server.Reference(repository, "nope")), TestContext.CancellationToken));
        Assert.AreEqual("MULTIARCH2003", tag.Code);
        StringAssert.Contains(tag.Message, "nope");
        StringAssert.Contains(tag.Message, "Tags in '" + repository + "' include: 1.");
        Assert.IsTrue(tag.IsNotFound);

        var repo = await Assert.ThrowsExactlyAsync<RegistryException>(() => client.GetManifestAsync(ImageReference.Parse(server.Reference("never/pushed", "1")), TestContext.CancellationToken));
        Assert.AreEqual("MULTIARCH2004", repo.Code);
        Assert.IsNull(await client.HeadManifestAsync(ImageReference.Parse(server.Reference(repository, "nope")), TestContext.CancellationToken));
    }

    [TestMethod]
    [DataRow(RegistryMode.Basic)]
    [DataRow(RegistryMode.Token)]
    public async Task WrongPasswordAndNoCredentialsAreCodedErrors(RegistryMode mode)
    {
        var server = await TestRegistries.Get(mode);
        var repository = TestNames.Repository("client-auth");
        await SkopeoPusher.PushAsync(server, repository, "1", TestImages.Image(TestImages.LinuxAmd64), TestContext.CancellationToken);
        var reference = ImageReference.Parse(server.Reference(repository, "1"));

        var environment = TestClients.Environment(server);
        environment["MULTIARCH_REGISTRY_PASSWORD"] = "wrong-password-canary";
        using (var client = TestClients.Client(server, environment))
        {
            var ex = await Assert.ThrowsAsync<MultiArchException>(() => client.GetManifestAsync(reference, TestContext.CancellationToken));
            Assert.AreEqual("MULTIARCH1003", ex.Code);
            StringAssert.Contains(ex.Message, "MULTIARCH_REGISTRY_USERNAME");
            Assert.DoesNotContain("wrong-password-canary", ex.ToString());
        }

        if (mode == RegistryMode.Basic)
        {
            using var anonymous = TestClients.Client(server, TestClients.Environment(server, withCredentials: false));
            var ex = await Assert.ThrowsExactlyAsync<RegistryException>(() => anonymous.GetManifestAsync(reference, TestContext.CancellationToken));
            Assert.AreEqual("MULTIARCH1004", ex.Code);
        }
    }

    [TestMethod]
    public async Task TokenModeBadPasswordAsksTheTokenServiceOnlyOnce()
    {
        var server = await TestRegistries.Token;
        var repository = TestNames.Repository("client-lock");
        var environment = TestClients.Environment(server);
        environment["MULTIARCH_REGISTRY_PASSWORD"] = "bad";
        using var client = TestClients.Client(server, environment);
        var ex = await Assert.ThrowsExactlyAsync<MultiArchException>(() => client.GetManifestAsync(ImageReference.Parse(server.Reference(repository, "1")), TestContext.CancellationToken));
        Assert.AreEqual("MULTIARCH1003", ex.Code);
        Assert.IsLessThanOrEqualTo(2, server.TokenServer!.RequestsFor(repository).Count);
    }

    [TestMethod]
    public async Task TokenMode_ConcurrentFirstRequestsShareOneToken_AndNeverTripTheLockoutGuard()
    {
        // Regression: each concurrent first request got the 401 challenge and dropped the token a sibling had just
        // fetched; the lockout guard counted every fetch (granted ones too) and failed the third with MULTIARCH1009.
        var server = await TestRegistries.Token;
        var repository = TestNames.Repository("client-concurrent-tokens");
        var image = TestImages.Image(TestImages.LinuxAmd64, "concurrent");
        await SkopeoPusher.PushAsync(server, repository, "1", image, TestContext.CancellationToken);
        var before = server.TokenServer!.CountRequests($"repository:{repository}:pull");
        using var client = TestClients.Client(server);
        var reference = ImageReference.Parse(server.Reference(repository, "1"));

        var heads = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => client.HeadManifestAsync(reference, TestContext.CancellationToken)));

        Assert.IsTrue(heads.All(h => h?.Digest == image.Digest));
        Assert.AreEqual(1, server.TokenServer.CountRequests($"repository:{repository}:pull") - before, "one token for one scope set");
    }

    [TestMethod]
    public async Task UntrustedCertificateIsACodedError()
    {
        var server = await TestRegistries.Tls;
        var settings = RegistrySettings.FromEnvironment(TestClients.Lookup(TestClients.Environment(server)), NullBuildLog.Instance);
        using var client = new RegistryClient(settings);
        var ex = await Assert.ThrowsExactlyAsync<MultiArchException>(() => client.GetManifestAsync(ImageReference.Parse(server.Reference("any/repo", "1")), TestContext.CancellationToken));
        Assert.AreEqual("MULTIARCH1002", ex.Code);
        StringAssert.Contains(ex.Message, server.Host);
    }

    [TestMethod]
    public async Task TlsRegistryListedAsInsecureIsReachedWithoutTrustingItsCa()
    {
        var server = await TestRegistries.Tls;
        var repository = TestNames.Repository("client-insecure-tls");
        await SkopeoPusher.PushAsync(server, repository, "1", TestImages.Image(TestImages.LinuxArm64), TestContext.CancellationToken);
        var environment = TestClients.Environment(server);
        environment["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = "other:1;" + server.Host;
        using var client = new RegistryClient(RegistrySettings.FromEnvironment(TestClients.Lookup(environment), NullBuildLog.Instance));
        var manifest = await client.GetManifestAsync(ImageReference.Parse(server.Reference(repository, "1")), TestContext.CancellationToken);
        Assert.AreEqual(TestImages.Image(TestImages.LinuxArm64).Digest, manifest.Digest);
    }

    [TestMethod]
    public async Task PlainHttpRegistryNotListedAsInsecureIsRefused()
    {
        var server = await TestRegistries.Open;
        var environment = TestClients.Environment(server);
        environment.Remove("DOTNET_CONTAINER_INSECURE_REGISTRIES");
        using var client = TestClients.Client(server, environment);
        var ex = await Assert.ThrowsExactlyAsync<MultiArchException>(() => client.GetManifestAsync(ImageReference.Parse(server.Reference("a/b", "1")), TestContext.CancellationToken));
        Assert.AreEqual("MULTIARCH1007", ex.Code);
        StringAssert.Contains(ex.Message, "DOTNET_CONTAINER_INSECURE_REGISTRIES");
    }

    [TestMethod]
    public async Task RegistryDownIsACodedErrorAtOnce()
    {
        var port = RegistryServer.FreePort();
        var host = $"127.0.0.1:{port}";
        var environment = new Dictionary<string, string?> { ["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = host };
        var settings = RegistrySettings.FromEnvironment(TestClients.Lookup(environment), NullBuildLog.Instance) with { RetryBaseDelay = TimeSpan.FromMilliseconds(1) };
        using var client = new RegistryClient(settings);
        var ex = await Assert.ThrowsExactlyAsync<MultiArchException>(() => client.GetManifestAsync(ImageReference.Parse($"{host}/app:1"), TestContext.CancellationToken));
        Assert.AreEqual("MULTIARCH1023", ex.Code, ex.Message);
        StringAssert.Contains(ex.Message, host);
    }

    [TestMethod]
    public async Task TamperedManifestIsRejectedByDigest()
    {
        var server = await TestRegistries.Open;
        var repository = TestNames.Repository("client-tamper");
        var image = TestImages.Image(TestImages.LinuxAmd64, "tamper");
        await SkopeoPusher.PushAsync(server, repository, "1", image, TestContext.CancellationToken);
        var tampered = image.Manifest.ToArray();
        tampered[^2] = (byte)' ';
        var settings = TestClients.Settings(server) with
        {
            TransportFactory = () => new TamperingHandler(new SocketsHttpHandler(), (request, response) =>
                request.Method == HttpMethod.Get && request.RequestUri!.AbsolutePath.Contains("/manifests/", StringComparison.Ordinal)
                    ? TamperingHandler.WithBody(response, tampered)
                    : Task.FromResult(response)),
        };
        using var client = new RegistryClient(settings);
        foreach (var reference in new[] { server.Reference(repository, "1"), server.Reference(repository, image.Digest.ToString()) })
        {
            var ex = await Assert.ThrowsExactlyAsync<MultiArchException>(() => client.GetManifestAsync(ImageReference.Parse(reference), TestContext.CancellationToken));
            Assert.AreEqual("MULTIARCH2005", ex.Code, reference);
            StringAssert.Contains(ex.Message, image.Digest.ToString());
        }
    }

    [TestMethod]
    public async Task ManifestOverFourMegabytesIsRefused()
    {
        var server = await TestRegistries.Open;
        var repository = TestNames.Repository("client-huge");
        await SkopeoPusher.PushAsync(server, repository, "1", TestImages.Image(TestImages.LinuxAmd64), TestContext.CancellationToken);
        var huge = new byte[HttpBodies.MaxManifestBytes + 1];
        var settings = TestClients.Settings(server) with
        {
            TransportFactory = () => new TamperingHandler(new SocketsHttpHandler(), (request, response) =>
                request.RequestUri!.AbsolutePath.Contains("/manifests/", StringComparison.Ordinal) ? TamperingHandler.WithBody(response, huge) : Task.FromResult(response)),
        };
        using var client = new RegistryClient(settings);
        var ex = await Assert.ThrowsExactlyAsync<MultiArchException>(() => client.GetManifestAsync(ImageReference.Parse(server.Reference(repository, "1")), TestContext.CancellationToken));
        Assert.AreEqual("MULTIARCH2006", ex.Code);
    }

    [TestMethod]
    public async Task ChildrenAreReadSideBySideOverOneConnectionPool()
    {
        var server = await TestRegistries.Token;
        var repository = TestNames.Repository("client-tokens");
        var index = TestImages.Index(TestImages.AllPlatforms, "tokens");
        await SkopeoPusher.PushAsync(server, repository, "1", index, TestContext.CancellationToken);
        var before = server.TokenServer!.RequestsFor(repository).Count;
        using var client = TestClients.Client(server);
        var reference = ImageReference.Parse(server.Reference(repository, "1"));
        var root = (ImageIndex)await client.GetManifestAsync(reference, TestContext.CancellationToken);
        await Task.WhenAll(root.Manifests.Select(d => client.GetManifestAsync(reference.WithDigest(d.Digest), TestContext.CancellationToken)));
        Assert.AreEqual(1, server.TokenServer.RequestsFor(repository).Count - before, "one token for the pull scope, shared by every request");
        // One 401, one token, the index, each child. No TLS probe: a loopback registry listed as insecure is spoken to in
        // plain HTTP from the first request.
        Assert.AreEqual(1 + 1 + 1 + root.Manifests.Length, client.RequestCount);
    }
}

using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Registry;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Registry;

/// <summary>
/// What public registries do that a test registry does not, emulated in front of real registries: manifests redirected
/// to a mirror (registry.k8s.io), blob HEADs redirected to object storage (distribution and Harbor on S3/GCS/Azure),
/// token services on a sibling host (GitLab, DigitalOcean, NGC), OCI indexes refused (older Quay), captive portals,
/// source bodies that break off or crawl during a cross-registry copy, and a registry that is not running.
/// </summary>
[TestClass]
public sealed class RealRegistryBehaviourTests : RegistryTestBase
{
    // ---------------------------------------------------------------- redirects

    [TestMethod]
    public async Task ManifestRedirectedToAMirror_IsFollowed_WithTheMirrorsOwnToken_AndNoCredentialsThere()
    {
        // registry.k8s.io: a Basic-auth registry (our credentials) answers manifest reads with a 307 to a mirror on
        // another origin, which challenges with a token service of its own (anonymous pulls).
        var mirrorServer = await TestRegistries.Token;
        var repository = TestNames.Repository("k8s-mirror");
        var image = TestImages.Image(TestImages.LinuxAmd64, "k8s-mirror");
        await SkopeoPusher.PushAsync(mirrorServer, repository, "3.9", image, Cancel);
        var mirror = await ProxyAsync(mirrorServer);
        var registry = await ProxyAsync(await TestRegistries.Basic);
        registry.When(r => r.IsManifest, FaultAction.Redirect(r => $"http://localhost:{mirror.Port}{r.Path}"));
        var environment = TestClients.Environment(registry);
        TestClients.AddInsecure(environment, $"localhost:{mirror.Port}");
        using var client = ReliabilityKit.Client(registry, environment: environment);
        var reference = ImageReference.Parse(registry.Reference(repository, "3.9"));
        var tokensBefore = mirrorServer.TokenServer!.RequestsFor(repository).Count;

        var manifest = await client.GetManifestAsync(reference, Cancel);
        var head = await client.HeadManifestAsync(reference, Cancel);

        Assert.AreEqual(image.Digest, manifest.Digest);
        Assert.AreEqual(image.Digest, head?.Digest);
        var atMirror = mirror.ExchangesFor(r => r.IsManifest);
        Assert.IsTrue(atMirror.Any(e => e.Status == 200 && e.Request.Method == "GET"), mirror.Transcript());
        Assert.IsTrue(atMirror.Any(e => e.Status == 200 && e.Request.Method == "HEAD"), mirror.Transcript());
        Assert.IsTrue(atMirror.Where(e => e.Status == 200).All(e => e.Request.Headers["Authorization"].StartsWith("Bearer ", StringComparison.Ordinal)), "the mirror's own token\n" + mirror.Transcript());
        Assert.IsTrue(atMirror.All(e => !e.Request.Headers.TryGetValue("Authorization", out var value) || !value.StartsWith("Basic ", StringComparison.Ordinal)), "never the registry's credentials");
        var tokenRequests = mirrorServer.TokenServer.RequestsFor(repository).Skip(tokensBefore).ToList();
        Assert.IsNotEmpty(tokenRequests);
        Assert.IsTrue(tokenRequests.All(t => t.AttemptedUser is null), "the mirror's token service is asked anonymously");
    }

    [TestMethod]
    public async Task RedirectLoop_EndsAfterTenHops_MULTIARCH1024()
    {
        var proxy = await ProxyAsync(await TestRegistries.Open);
        proxy.When(r => r.IsManifest, FaultAction.Redirect(r => r.Path, status: 302));
        using var client = ReliabilityKit.Client(proxy);

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => client.GetManifestAsync(ImageReference.Parse(proxy.Reference("loop/app", "1")), Cancel));

        Assert.AreEqual("MULTIARCH1024", ex.Code, ex.Message);
        Assert.HasCount(11, proxy.ExchangesFor(r => r.IsManifest), "the first request and ten hops");
    }

    [TestMethod]
    public async Task HttpsManifestRedirectToPlainHttp_IsNotFollowed_EvenToAHostListedInsecure()
    {
        var server = await TestRegistries.Open;
        var registry = Resources.Add(await FaultProxy.StartHttpsAsync(server, Cancel));
        var plain = await ProxyAsync(server);
        registry.When(r => r.IsManifest, FaultAction.Redirect(r => $"http://{plain.Host}{r.Path}"));
        var environment = TestClients.Environment(server);
        TestClients.AddInsecure(environment, plain.Host);
        using var client = ReliabilityKit.Client(registry, environment: environment);

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => client.GetManifestAsync(ImageReference.Parse(registry.Reference("any/app", "1")), Cancel));

        Assert.AreEqual("MULTIARCH1020", ex.Code, ex.Message);
        Assert.IsEmpty(plain.Exchanges);
    }

    [TestMethod]
    [DataRow(307)]
    [DataRow(302)]
    public async Task BlobHeadRedirectedToStorage_CountsAsPresent(int status)
    {
        // distribution and Harbor on S3/GCS/Azure (redirects on) answer HEAD of a blob they hold with a redirect to a
        // URL signed for GET; a missing blob is still a 404.
        var server = await TestRegistries.Open;
        var proxy = await ProxyAsync(server);
        var repository = TestNames.Repository("storage-head");
        var present = Digest.FromContent("present"u8);
        proxy.When(r => r.Is("HEAD", "/blobs/") && r.Path.Contains(present.Hex, StringComparison.Ordinal), FaultAction.Redirect(_ => "https://storage.invalid/blob?X-Amz-Signature=abc", status));
        using var client = ReliabilityKit.Client(proxy);
        var target = ImageReference.Parse(proxy.Reference(repository, "1"));

        Assert.IsTrue(await client.BlobExistsAsync(target, present, Cancel));
        Assert.IsFalse(await client.BlobExistsAsync(target, Digest.FromContent("missing"u8), Cancel));
        Assert.HasCount(2, proxy.Exchanges, "the redirect is not followed: one request each\n" + proxy.Transcript());
    }

    [TestMethod]
    public async Task StorageBackedTarget_ThatRedirectsBlobHeads_TakesAPushSharingABaseLayer()
    {
        // The push that failed with "HEAD .../blobs/sha256:... answered HTTP 307": the target (distribution on S3, say)
        // already holds the base layer and answers its HEAD with a redirect to storage.
        var server = await TestRegistries.Open;
        var repository = TestNames.Repository("storage-push");
        var old = TestImages.Image(TestImages.LinuxAmd64, "storage-old", sharedLayers: ["base"]);
        var next = TestImages.Image(TestImages.LinuxAmd64, "storage-new", sharedLayers: ["base"]);
        await PushTestKit.SeedAsync(server, Cancel, (repository + "/target", "old", old), (repository + "/source", "amd64", next));
        var source = await ProxyAsync(server);
        var target = await ProxyAsync(server);
        target.When(r => r.Is("HEAD", "/blobs/"), FaultAction.Custom("storage: 307 for a blob it holds", async context =>
        {
            var upstream = await context.SendUpstreamAsync();
            if ((int)upstream.StatusCode == 200)
            {
                upstream.Dispose();
                await context.RespondAsync(307, new Dictionary<string, string> { ["Location"] = "https://storage.invalid/docker/registry/v2/blobs/data?X-Amz-Signature=abc" }, null);
                return;
            }

            await context.RelayAsync(upstream);
        }));
        var environment = TestClients.Environment(target);
        TestClients.AddInsecure(environment, source.Host);
        var spec = $"""
            image: {target.Reference(repository + "/target", "1.0")}
            manifests:
              - image: {source.Reference(repository + "/source", "amd64")}
            """;

        var result = await PushTestKit.PushAsync(environment, PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);

        Assert.AreEqual(next.Digest, result.Images.Single().Digest);
        Assert.IsTrue(target.ExchangesFor(r => r.Is("HEAD", "/blobs/")).Any(e => e.Status == 307), target.Transcript());
        var shared = next.Layers.Single(l => old.Layers.Any(o => o.Digest == l.Digest));
        Assert.IsEmpty(target.ExchangesFor(r => r.Method == "PUT" && r.IsUpload && r.QueryValue("digest") == shared.Digest.ToString()), "the layer it holds is not sent again");
    }

    [TestMethod]
    public async Task EcrStyle_BasicFromACredentialHelper_MountsRefusedWith202_PushSucceeds()
    {
        // ECR: Basic auth with a password from docker-credential-ecr-login, and cross-repository mounts answered with 202
        // and an upload session.
        var server = await TestRegistries.Basic;
        var repository = TestNames.Repository("ecr");
        var image = TestImages.Image(TestImages.LinuxArm64, "ecr");
        await PushTestKit.SeedAsync(server, Cancel, (repository + "/base", "arm64", image));
        var proxy = await ProxyAsync(server);
        proxy.When(r => r.IsMount, FaultAction.RefuseMount);
        using var helpers = new CredentialHelpers();
        helpers.Answering("ecr-login", server.Username!, server.Password!);
        helpers.Config("{\"credHelpers\": {\"" + proxy.Host + "\": \"ecr-login\"}}");
        var environment = TestClients.Environment(proxy, withCredentials: false);
        environment["PATH"] = helpers.PathValue;
        environment["DOCKER_CONFIG"] = helpers.ConfigDirectory;
        var spec = $"""
            image: {proxy.Reference(repository + "/app", "1.0")}
            manifests:
              - image: {proxy.Reference(repository + "/base", "arm64")}
            """;

        var result = await PushTestKit.PushAsync(environment, PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);

        Assert.AreEqual(image.Digest, result.Images.Single().Digest);
        Assert.IsTrue(proxy.ExchangesFor(r => r.IsMount).All(e => e.Status == 202), proxy.Transcript());
        Assert.IsTrue(proxy.Exchanges.Where(e => e.Status is >= 200 and < 300 && e.Request.IsWrite).All(e => e.Request.Headers.TryGetValue("Authorization", out var value) && value.StartsWith("Basic ", StringComparison.Ordinal)), proxy.Transcript());
        Assert.IsNotNull(await RegistryContent.ResolveAsync(server, repository + "/app", "1.0", Cancel));
    }

    [TestMethod]
    public async Task CaptivePortal_RedirectToALoginPage_IsACodedErrorNamingWhatCameBack()
    {
        var server = await TestRegistries.Open;
        var registry = await ProxyAsync(server);
        var portal = await ProxyAsync(server);
        portal.When(_ => true, FaultAction.Respond(200, body: "<html><body>Sign in to the hotel Wi-Fi</body></html>", contentType: "text/html"));
        registry.When(_ => true, FaultAction.Redirect(_ => $"http://{portal.Host}/login?from=registry", status: 302));
        var environment = TestClients.Environment(registry);
        TestClients.AddInsecure(environment, portal.Host);
        using var client = ReliabilityKit.Client(registry, environment: environment);

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => client.GetManifestAsync(ImageReference.Parse(registry.Reference("any/app", "1")), Cancel));

        Assert.AreEqual("MULTIARCH1025", ex.Code, ex.Message);
        StringAssert.Contains(ex.Message, $"http://{portal.Host}/login");
        StringAssert.Contains(ex.Message, "captive portal");
    }

    // ---------------------------------------------------------------- token services elsewhere

    [TestMethod]
    public async Task SiblingHostTokenService_OverHttps_GetsTheCredentials_ByDefault_ButNotInStrictMode()
    {
        // registry.gitlab.com → https://gitlab.com/jwt/auth: an HTTPS registry on 127.0.0.1 names an HTTPS token
        // service on 'localhost' (another host name) that needs the credentials for a push.
        var server = await TestRegistries.Token;
        var repository = TestNames.Repository("gitlab-realm");
        var registry = Resources.Add(await FaultProxy.StartHttpsAsync(server, Cancel));
        var tokens = Resources.Add(await FaultProxy.StartHttpsAsync(new Uri(server.TokenServer!.Realm.GetLeftPart(UriPartial.Authority)), cancellationToken: Cancel));
        registry.RealmRewrite = _ => $"https://localhost:{tokens.Port}/token";
        var environment = TestClients.Environment(server);
        environment.Remove("DOTNET_CONTAINER_INSECURE_REGISTRIES");
        var settings = ReliabilityKit.Settings(registry, environment: environment) with { TransportFactory = () => FaultProxy.CreateTrustingHandler(registry, tokens) };
        var target = ImageReference.Parse(registry.Reference(repository, "1"));

        using (var client = new RegistryClient(settings))
        {
            await client.UploadBlobAsync(target, "sibling realm"u8.ToArray(), Cancel);
        }

        Assert.IsTrue(tokens.Exchanges.Any(e => e.Request.Headers.TryGetValue("Authorization", out var value) && value.StartsWith("Basic ", StringComparison.Ordinal)), tokens.Transcript());

        var mark = tokens.Mark;
        using (var strict = new RegistryClient(settings with { RealmPolicy = RealmPolicy.Strict, State = new RegistryBuildState() }))
        {
            var ex = await Assert.ThrowsAsync<MultiArchException>(() => strict.UploadBlobAsync(target, "strict realm"u8.ToArray(), Cancel));
            Assert.AreEqual("MULTIARCH1012", ex.Code, ex.Message);
            StringAssert.Contains(ex.Message, "ContainerRegistryTrustedRealms");
        }

        Assert.IsTrue(tokens.ExchangesSince(mark).All(e => !e.Request.Headers.ContainsKey("Authorization")), "strict: no credentials to another host\n" + tokens.Transcript());
    }

    [TestMethod]
    public async Task DockerHubsRealNames_OverHttpsWithATestCa_CredentialsGoToAuthDockerIo()
    {
        // docker.io/<repo> is spoken to as https://registry-1.docker.io, whose challenge names https://auth.docker.io:
        // both names lead (by a connect callback, never the network) to HTTPS proxies with certificates for them.
        var server = await TestRegistries.Token;
        var repository = TestNames.Repository("hub");
        var image = TestImages.Image(TestImages.LinuxAmd64, "hub");
        await PushTestKit.SeedAsync(server, Cancel, (repository, "1", image));
        var hub = Resources.Add(await FaultProxy.StartHttpsAsync(server, ["registry-1.docker.io"], Cancel));
        var auth = Resources.Add(await FaultProxy.StartHttpsAsync(new Uri(server.TokenServer!.Realm.GetLeftPart(UriPartial.Authority)), dnsNames: ["auth.docker.io"], cancellationToken: Cancel));
        hub.RealmRewrite = _ => "https://auth.docker.io/token";
        var environment = TestClients.Environment(server);
        environment.Remove("DOTNET_CONTAINER_INSECURE_REGISTRIES");
        var settings = RegistrySettings.FromEnvironment(TestClients.Lookup(environment), NullBuildLog.Instance) with
        {
            RetryBaseDelay = ReliabilityKit.FastRetry,
            TransportFactory = () =>
            {
                var handler = FaultProxy.CreateTrustingHandler(hub, auth);
                handler.ConnectCallback = async (context, cancellationToken) =>
                {
                    var port = context.DnsEndPoint.Host switch
                    {
                        "registry-1.docker.io" => hub.Port,
                        "auth.docker.io" => auth.Port,
                        var other => throw new HttpRequestException($"{other} is not reachable in tests"),
                    };
                    var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    await socket.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                };
                return handler;
            },
        };
        using var client = new RegistryClient(settings);

        var manifest = await client.GetManifestAsync(ImageReference.Parse($"docker.io/{repository}:1"), Cancel);

        Assert.AreEqual(image.Digest, manifest.Digest);
        Assert.IsTrue(hub.ExchangesFor(r => r.IsManifest).Any(e => e.Status == 200 && e.Request.Headers["Authorization"].StartsWith("Bearer ", StringComparison.Ordinal)), hub.Transcript());
        Assert.IsTrue(auth.Exchanges.Any(e => e.Request.Headers.TryGetValue("Authorization", out var value) && value.StartsWith("Basic ", StringComparison.Ordinal)), "the credentials go to auth.docker.io\n" + auth.Transcript());
        Assert.IsTrue(hub.Exchanges.All(e => !e.Request.Headers.TryGetValue("Authorization", out var value) || !value.StartsWith("Basic ", StringComparison.Ordinal)), "and only there");
    }

    [TestMethod]
    [DataRow("https://auth.invalid/token", true, DisplayName = "a public sibling host: credentials go")]
    [DataRow("https://127.0.0.1/token", false, DisplayName = "a loopback realm for a public registry: none")]
    [DataRow("https://10.1.2.3/token", false, DisplayName = "a private realm for a public registry: none")]
    [DataRow("http://auth.invalid/token", false, DisplayName = "a plain-HTTP realm: refused outright")]
    public async Task PublicRegistry_SendsCredentialsOnlyToAPublicHttpsRealm(string realm, bool credentialsSent)
    {
        var registry = new ScriptedTokenRegistry("registry.example", realm);
        var environment = new Dictionary<string, string?>
        {
            ["MULTIARCH_REGISTRY_USERNAME"] = "user",
            ["MULTIARCH_REGISTRY_PASSWORD"] = "canary-realm",
            ["HOME"] = Path.Combine(Path.GetTempPath(), "multiarch-tests", "no-home"),
        };
        var settings = RegistrySettings.FromEnvironment(TestClients.Lookup(environment), NullBuildLog.Instance) with { TransportFactory = () => registry, RetryBaseDelay = ReliabilityKit.FastRetry };
        using var client = new RegistryClient(settings);

        var error = await ReliabilityKit.TimeAsync(() => client.GetManifestAsync(ImageReference.Parse("registry.example/app:1"), Cancel));

        var tokenRequests = registry.Requests.Where(r => r.Uri.AbsolutePath == "/token").ToList();
        if (realm.StartsWith("http:", StringComparison.Ordinal))
        {
            Assert.AreEqual("MULTIARCH1009", (error.Error as MultiArchException)?.Code, error.Error?.ToString());
            Assert.IsEmpty(tokenRequests);
            return;
        }

        Assert.IsNotEmpty(tokenRequests, string.Join('\n', registry.Requests));
        Assert.AreEqual(credentialsSent, tokenRequests.Any(r => r.Authorization == "Basic"), string.Join('\n', registry.Requests));
        if (credentialsSent)
        {
            Assert.IsNull(error.Error, error.Error?.ToString());
        }
        else
        {
            var ex = error.Error as MultiArchException ?? throw new AssertFailedException($"expected MULTIARCH1012, got {error.Error}");
            Assert.AreEqual("MULTIARCH1012", ex.Code, ex.Message);
            StringAssert.Contains(ex.Message, "loopback or private");
        }
    }

    [TestMethod]
    public async Task GhcrStyleScopedTokens_ATokenForOneRepositoryIsRefusedOnAnother_AndACrossRepositoryPushAsksForBoth()
    {
        // GHCR: every token names the repositories and actions it was issued for, and a repository refuses a token
        // issued for another one. A push from another repository mounts with a token for pull on the source and
        // pull,push on the target, asked for together; asked for the target alone, every mount would be refused.
        var server = await TestRegistries.Token;
        var repository = TestNames.Repository("ghcr");
        var (source, target) = (repository + "/source", repository + "/app");
        var image = TestImages.Image(TestImages.LinuxAmd64, "ghcr");
        await PushTestKit.SeedAsync(server, Cancel, (source, "1", image));
        using (var http = server.CreateHttpClient())
        {
            var sourceToken = await server.GetAuthorizationAsync(source, "pull", Cancel);
            foreach (var (name, expected) in new[] { (source, HttpStatusCode.OK), (target, HttpStatusCode.Unauthorized) })
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, $"v2/{name}/tags/list") { Headers = { Authorization = sourceToken } };
                using var response = await http.SendAsync(request, Cancel);
                Assert.AreEqual(expected, response.StatusCode, $"the token for {source} on {name}");
            }
        }

        var proxy = await ProxyAsync(server);
        var spec = $"""
            image: {proxy.Reference(target, "1.0")}
            manifests:
              - image: {proxy.Reference(source, "1")}
            """;

        var result = await PushTestKit.PushAsync(TestClients.Environment(proxy), PushTestKit.FromSpec(spec), new RecordingLog(), Cancel);

        Assert.AreEqual(image.Digest, result.Images.Single().Digest);
        var mounts = proxy.ExchangesFor(r => r.IsMount);
        Assert.HasCount(image.Blobs.Count(), mounts, proxy.Transcript());
        Assert.IsTrue(mounts.All(m => m.Status == 201), "every mount taken at the first try: " + proxy.Transcript());
        var mountToken = server.TokenServer!.RequestsFor(target).Where(r => r.Status == 200 && r.Scopes.Contains($"repository:{source}:pull")).ToList();
        Assert.IsTrue(mountToken.Any(r => r.Scopes.Contains($"repository:{target}:pull,push")), "one token for both: " + string.Join("\n", server.TokenServer.RequestsFor(target).Select(r => string.Join(' ', r.Scopes))));
        Assert.AreEqual(result.Index.Digest.ToString(), await RegistryContent.ResolveAsync(server, target, "1.0", Cancel));
    }

    // ---------------------------------------------------------------- refusals that say what was refused

    [TestMethod]
    [DataRow(400, DisplayName = "400 MANIFEST_INVALID (older Quay)")]
    [DataRow(415, DisplayName = "415 Unsupported Media Type")]
    public async Task OciIndexRefused_NamesTheMediaType_TheRegistrysDetail_AndContainerManifestFormatDocker(int status)
    {
        var proxy = await ProxyAsync(await TestRegistries.Open);
        var body = """{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":{"message":"unknown media type application/vnd.oci.image.index.v1+json"}}]}""";
        proxy.When(r => r.Is("PUT", "/manifests/") && r.ContentType == MediaTypes.OciIndex, FaultAction.Respond(status, body: body));
        using var client = ReliabilityKit.Client(proxy);
        var child = TestImages.Image(TestImages.LinuxAmd64, "quay", ImageFormat.Docker);
        var index = ImageIndex.Create(MediaTypes.OciIndex, [child.ToDescriptor()]);
        var target = ImageReference.Parse(proxy.Reference(TestNames.Repository("quay"), "1"));

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => client.PutManifestAsync(target, index, Cancel));

        Assert.AreEqual("MULTIARCH1022", ex.Code, ex.Message);
        StringAssert.Contains(ex.Message, MediaTypes.OciIndex);
        StringAssert.Contains(ex.Message, "ContainerManifestFormat=docker");
        StringAssert.Contains(ex.Message, "unknown media type", "the registry's own detail");
        StringAssert.Contains(ex.Message, proxy.Host);
    }

    [TestMethod]
    public async Task NotFoundWithAnEmptyBody_ForManifestAndTags_IsMULTIARCH2004()
    {
        var proxy = await ProxyAsync(await TestRegistries.Open);
        proxy.When(r => r.IsManifest || r.Path.EndsWith("/tags/list", StringComparison.Ordinal), FaultAction.Respond(404));
        using var client = ReliabilityKit.Client(proxy);

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => client.GetManifestAsync(ImageReference.Parse(proxy.Reference("gone/app", "1")), Cancel));

        Assert.AreEqual("MULTIARCH2004", ex.Code, ex.Message);
    }

    // ---------------------------------------------------------------- cross-registry copies

    [TestMethod]
    public async Task SourceBodyCutMidCopy_BlamesTheSourceRegistry_MULTIARCH1021()
    {
        var (source, target, blob) = await CopyFixtureAsync("copy-cut", 256 * 1024);
        source.When(r => r.Is("GET", "/blobs/"), FaultAction.CutBody(0.5));
        using var client = ReliabilityKit.Client(source, environment: CopyEnvironment(source, target));

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => client.CopyBlobAsync(SourceRef(source), TargetRef(target), blob, Cancel));

        Assert.AreEqual("MULTIARCH1021", ex.Code, ex.Message);
        StringAssert.Contains(ex.Message, $"from '{source.Host}'");
        StringAssert.Contains(ex.Message, blob.Digest.ToString());
        StringAssert.Contains(ex.Message, $"to '{target.Host}'");
    }

    [TestMethod]
    public async Task SourceBodyThatStalls_IsStoppedByTheIdleTimeout_AndBlamesTheSource()
    {
        var (source, target, blob) = await CopyFixtureAsync("copy-stall", 64 * 1024);
        source.When(r => r.Is("GET", "/blobs/"), FaultAction.SlowBody(TimeSpan.FromSeconds(30), chunkBytes: 1024));
        using var client = ReliabilityKit.Client(source, environment: CopyEnvironment(source, target), configure: s => s with { RequestTimeout = TimeSpan.FromSeconds(0.5) });

        var (elapsed, error) = await ReliabilityKit.TimeAsync(() => client.CopyBlobAsync(SourceRef(source), TargetRef(target), blob, Cancel));

        var ex = error as MultiArchException ?? throw new AssertFailedException($"expected MULTIARCH1021, got {error}");
        Assert.AreEqual("MULTIARCH1021", ex.Code, ex.Message);
        StringAssert.Contains(ex.Message, "no bytes came for 0.5 s");
        Assert.IsLessThan(TimeSpan.FromSeconds(20), elapsed);
    }

    [TestMethod]
    public async Task SlowMultiMegabyteCopy_UnderAShortHeaderTimeout_Copies()
    {
        // 2 MiB trickling in 64 KiB steps every 100 ms takes over 3 s; the header timeout is 2 s. Before, the whole PUT
        // had to fit in the header timeout.
        var (source, target, blob) = await CopyFixtureAsync("copy-slow", 2 * 1024 * 1024);
        source.When(r => r.Is("GET", "/blobs/"), FaultAction.SlowBody(TimeSpan.FromMilliseconds(100), chunkBytes: 64 * 1024));
        using var client = ReliabilityKit.Client(source, environment: CopyEnvironment(source, target), configure: s => s with { RequestTimeout = TimeSpan.FromSeconds(2), MaxRetries = 0 });

        var (elapsed, error) = await ReliabilityKit.TimeAsync(() => client.CopyBlobAsync(SourceRef(source), TargetRef(target), blob, Cancel));

        Assert.IsNull(error, error?.ToString());
        Assert.IsGreaterThan(TimeSpan.FromSeconds(2.5), elapsed, "the copy took longer than the header timeout");
        Assert.IsTrue(await client.BlobExistsAsync(TargetRef(target), blob.Digest, Cancel));
    }

    [TestMethod]
    public async Task TimeWaitingForAFreeRequestSlot_IsNotCountedAgainstTheHeaderTimeout()
    {
        var server = await TestRegistries.Open;
        var repository = TestNames.Repository("queue");
        var image = TestImages.Image(TestImages.LinuxAmd64, "queue");
        await PushTestKit.SeedDirectAsync(server, Cancel, (repository, "1", image));
        var proxy = await ProxyAsync(server);
        proxy.When(r => r.IsManifest, FaultAction.Delay(TimeSpan.FromMilliseconds(400)));
        using var client = ReliabilityKit.Client(proxy, configure: s => s with { MaxConcurrency = 1, RequestTimeout = TimeSpan.FromSeconds(1.5), MaxRetries = 0 });
        var reference = ImageReference.Parse(proxy.Reference(repository, "1"));

        // Six requests through one slot: the last waits about 2 s for it, longer than the header timeout.
        var manifests = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => client.GetManifestAsync(reference, Cancel)));

        Assert.IsTrue(manifests.All(m => m.Digest == image.Digest));
    }

    // ---------------------------------------------------------------- a registry that is not running

    [TestMethod]
    public async Task ConnectionRefusedOnTheFirstRequest_IsMULTIARCH1023AtOnce_NamingHostAndPort()
    {
        var port = RegistryServer.FreePort();
        var environment = new Dictionary<string, string?> { ["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = $"127.0.0.1:{port}" };
        using var client = new RegistryClient(RegistrySettings.FromEnvironment(TestClients.Lookup(environment), NullBuildLog.Instance));

        var (elapsed, error) = await ReliabilityKit.TimeAsync(() => client.GetManifestAsync(ImageReference.Parse($"127.0.0.1:{port}/app:1"), Cancel));

        var ex = error as MultiArchException ?? throw new AssertFailedException($"expected MULTIARCH1023, got {error}");
        Assert.AreEqual("MULTIARCH1023", ex.Code, ex.Message);
        StringAssert.Contains(ex.Message, $"127.0.0.1:{port}");
        Assert.AreEqual(1, client.RequestCount, "no retries");
        Assert.IsLessThan(TimeSpan.FromSeconds(5), elapsed, "at once, not after the retries' 6 s of backoff");
    }

    [TestMethod]
    public async Task ConnectionRefused_AfterTheRegistryAnswered_IsRetried()
    {
        var server = await TestRegistries.Open;
        var proxy = await FaultProxy.StartAsync(server, Cancel);
        using var client = ReliabilityKit.Client(proxy);
        var reference = ImageReference.Parse(proxy.Reference("any/app", "1"));
        Assert.IsNull(await client.HeadManifestAsync(reference, Cancel));
        await proxy.DisposeAsync();
        var before = client.RequestCount;

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => client.HeadManifestAsync(reference, Cancel));

        Assert.AreEqual("MULTIARCH1015", ex.Code, ex.Message);
        Assert.AreEqual(6, client.RequestCount - before, "tried again, five times");
    }

    // ---------------------------------------------------------------- helpers

    private string _repository = string.Empty;

    /// <summary>Two proxies in front of the open registry (the source and the target of a copy) and a random blob in the source.</summary>
    private async Task<(FaultProxy Source, FaultProxy Target, Descriptor Blob)> CopyFixtureAsync(string name, int size)
    {
        var server = await TestRegistries.Open;
        _repository = TestNames.Repository(name);
        var bytes = RandomNumberGenerator.GetBytes(size);
        using (var seeder = TestClients.Client(server))
        {
            await seeder.UploadBlobAsync(ImageReference.Parse(server.Reference(_repository + "/source", "1")), bytes, Cancel);
        }

        return (await ProxyAsync(server), await ProxyAsync(server), new Descriptor(MediaTypes.OciLayer, Digest.FromContent(bytes), size));
    }

    private ImageReference SourceRef(FaultProxy source) => ImageReference.Parse(source.Reference(_repository + "/source", "1"));

    private ImageReference TargetRef(FaultProxy target) => ImageReference.Parse(target.Reference(_repository + "/target", "1"));

    private static Dictionary<string, string?> CopyEnvironment(FaultProxy source, FaultProxy target)
    {
        var environment = TestClients.Environment(source);
        TestClients.AddInsecure(environment, target.Host);
        return environment;
    }

    /// <summary>
    /// A public HTTPS registry, scripted: every registry request without a token is challenged with a Bearer
    /// <paramref name="realm"/>; the token service (whatever host it names) grants a token, with or without credentials;
    /// a request with a token is answered 401 unless it came from credentials (a private repository).
    /// </summary>
    private sealed class ScriptedTokenRegistry(string host, string realm) : ScriptedRegistryHandler
    {
        protected override void Answer(HttpRequestMessage request, Uri uri, HttpResponseMessage response)
        {
            if (uri.AbsolutePath == "/token")
            {
                var token = request.Headers.Authorization is null ? "anonymous" : "user";
                response.StatusCode = HttpStatusCode.OK;
                response.Content = new StringContent($$"""{"token":"{{token}}","expires_in":300}""", Encoding.UTF8, "application/json");
            }
            else if (uri.Host == host && request.Headers.Authorization is not { Scheme: "Bearer", Parameter: "user" })
            {
                response.StatusCode = HttpStatusCode.Unauthorized;
                response.Headers.WwwAuthenticate.Add(new AuthenticationHeaderValue("Bearer", $"realm=\"{realm}\",service=\"{host}\",scope=\"repository:app:pull\""));
            }
            else if (uri.Host == host)
            {
                var manifest = TestImages.Image(TestImages.LinuxAmd64, "scripted");
                response.StatusCode = HttpStatusCode.OK;
                response.Content = new ByteArrayContent(manifest.Manifest);
                response.Content.Headers.ContentType = new MediaTypeHeaderValue(manifest.MediaType);
            }
        }
    }
}

using System.Text;
using System.Text.Json;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Publishing;
using MultiArch.Build.Tasks.RegistryTest;
using MultiArch.Build.Tasks.Tasks;
using MultiArch.Build.Tasks.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace MultiArch.Build.Tasks.Tests.Tasks;

/// <summary>
/// The <c>TestContainerRegistry</c> task run the way MSBuild runs it (a fake build engine, the environment seam) against
/// Debian's registry: with DELETE enabled and disabled, behind a token service, and behind a <see cref="FaultProxy"/>
/// that refuses OCI indexes, refuses mounts (202) or rejects annotations. Each run's JSON report is read back, and what
/// the registry holds afterwards is read independently of the product's client.
/// </summary>
[TestClass]
public sealed class TestContainerRegistryTaskTests : RegistryTestBase
{
    private static readonly string[] s_allNames = [.. RegistryCapabilities.All.Select(c => c.Name)];

    // ---------------------------------------------------------------- plain registries

    [TestMethod]
    public async Task DebianRegistry_EverythingSupportedButReferrers_AndASecondRunIsClean()
    {
        var server = await TestRegistries.Open;
        var repository = TestNames.Repository("regtest-open");
        var environment = TestClients.Environment(server);

        foreach (var attempt in new[] { "first", "second" })
        {
            var run = await RunAsync(environment, server.Host + "/" + repository);

            run.AssertSucceeded();
            Assert.IsEmpty(run.Engine.Warnings, run.Engine.AllText);
            run.AssertStates(NotSupported(RegistryCapabilities.Referrers));
            AssertReferrersAnswer404(run, repository);
            Assert.IsEmpty(run.Report.GetProperty("leftBehind").EnumerateArray().ToList(), attempt);
            Assert.IsEmpty(run.Report.GetProperty("foundBefore").EnumerateArray().ToList(), $"{attempt} run found left-overs");
            Assert.AreEqual("passed", run.Report.GetProperty("result").GetString());
            StringAssert.Contains(run.Engine.HighText, "Left behind: nothing.");
            CollectionAssert.AreEqual(Array.Empty<string>(), (await RegistryContent.TagsAsync(server, repository, Cancel)).ToArray(), attempt);
            CollectionAssert.AreEqual(Array.Empty<string>(), (await RegistryContent.TagsAsync(server, repository + "-source", Cancel)).ToArray(), attempt);
        }
    }

    [TestMethod]
    public async Task RegistryWithoutDelete_DeleteNotSupported_TheRestSupported_LeftOversListedAndFoundAgain()
    {
        var server = await TestRegistries.OpenNoDelete;
        var repository = TestNames.Repository("regtest-nodelete");
        var environment = TestClients.Environment(server);

        var first = await RunAsync(environment, server.Host + "/" + repository);

        first.AssertSucceeded();
        first.AssertStates(NotSupported(RegistryCapabilities.Referrers), NotSupported(RegistryCapabilities.Delete));
        var delete = first.Capability(RegistryCapabilities.Delete);
        Assert.AreEqual(405, delete.GetProperty("answer").GetProperty("status").GetInt32());
        CollectionAssert.AreEqual(new[] { "UNSUPPORTED" }, delete.GetProperty("answer").GetProperty("errorCodes").EnumerateArray().Select(e => e.GetString()).ToArray());
        StringAssert.StartsWith(delete.GetProperty("detail").GetString(), $"DELETE /v2/{repository}/manifests/sha256:");

        // Everything it pushed is listed, and that is exactly what the registry holds.
        var leftBehind = first.Report.GetProperty("leftBehind").EnumerateArray().Select(e => e.GetString()!).ToList();
        var tags = (await RegistryContent.TagsAsync(server, repository, Cancel)).Select(t => $"{server.Host}/{repository}:{t}")
            .Concat((await RegistryContent.TagsAsync(server, repository + "-source", Cancel)).Select(t => $"{server.Host}/{repository}-source:{t}"));
        CollectionAssert.AreEquivalent(tags.ToList(), leftBehind.Where(l => !l.Contains('@', StringComparison.Ordinal)).ToList());
        Assert.AreEqual(10, leftBehind.Count(l => !l.Contains('@', StringComparison.Ordinal)), string.Join("\n", leftBehind)); // 8 tags in the repository, 2 in the source
        Assert.IsTrue(leftBehind.Any(l => l.Contains('@', StringComparison.Ordinal)), "untagged children are listed by digest");
        var warning = first.Engine.Warnings.Single();
        Assert.AreEqual("MULTIARCH1018", warning.Code);
        StringAssert.Contains(warning.Message, $"could not delete {leftBehind.Count} of the references it pushed: {leftBehind[0]}, ");
        StringAssert.Contains(warning.Message, $"{leftBehind.Count - 10} untagged manifests in {server.Host}/{repository}.");

        var second = await RunAsync(environment, server.Host + "/" + repository);

        second.AssertSucceeded();
        second.AssertStates(NotSupported(RegistryCapabilities.Referrers), NotSupported(RegistryCapabilities.Delete));
        var foundBefore = second.Report.GetProperty("foundBefore").EnumerateArray().Select(e => e.GetString()!).ToList();
        CollectionAssert.AreEquivalent(leftBehind.Where(l => !l.Contains('@', StringComparison.Ordinal)).ToList(), foundBefore);
        StringAssert.Contains(second.Engine.HighText, $"Left by earlier runs ({foundBefore.Count}): ");
    }

    [TestMethod]
    public async Task TokenRegistry_MountsAndDeletesWithTheirOwnScopes()
    {
        var server = await TestRegistries.Token;
        var repository = TestNames.Repository("regtest-token");

        var run = await RunAsync(TestClients.Environment(server), server.Host + "/" + repository);

        run.AssertSucceeded();
        run.AssertStates(NotSupported(RegistryCapabilities.Referrers));
        Assert.IsTrue(
            server.TokenServer!.Requests.Any(r => r.Scopes.Contains($"repository:{repository}-source:pull") && r.Scopes.Any(s => s.StartsWith($"repository:{repository}:", StringComparison.Ordinal) && s.Contains("push", StringComparison.Ordinal))),
            "the mount's token covers pull on the source and push on the target");
        Assert.IsGreaterThan(0, server.TokenServer.CountRequests($"repository:{repository}:delete"));
        CollectionAssert.AreEqual(Array.Empty<string>(), (await RegistryContent.TagsAsync(server, repository, Cancel)).ToArray());
    }

    [TestMethod]
    public async Task NoCredentials_TheCredentialsError_NotATableOfRefusals()
    {
        var server = await TestRegistries.Basic;
        var repository = TestNames.Repository("regtest-nocreds");

        var run = await RunAsync(TestClients.Environment(server, withCredentials: false), server.Host + "/" + repository);

        run.AssertFailedWith("MULTIARCH1004");
        Assert.IsFalse(File.Exists(run.ReportPath));
        StringAssert.DoesNotMatch(run.Engine.AllText, new System.Text.RegularExpressions.Regex("Capability +Result"));
    }

    [TestMethod]
    public async Task CleanupFalse_DeleteSkipped_EverythingKeptAndListed_NoWarning()
    {
        var server = await TestRegistries.Open;
        var repository = TestNames.Repository("regtest-keep");

        var run = await RunAsync(TestClients.Environment(server), server.Host + "/" + repository, task => task.Cleanup = false);

        run.AssertSucceeded();
        Assert.IsEmpty(run.Engine.Warnings, run.Engine.AllText);
        run.AssertStates(NotSupported(RegistryCapabilities.Referrers), (RegistryCapabilities.Delete, "skipped"));
        StringAssert.Contains(run.Capability(RegistryCapabilities.Delete).GetProperty("detail").GetString(), "ContainerRegistryTestCleanup is false");
        var tags = await RegistryContent.TagsAsync(server, repository, Cancel);
        Assert.HasCount(8, tags, string.Join(", ", tags)); // docker, oci, annotated, nested, mount, copy, extra-1, extra-2
        var leftBehind = run.Report.GetProperty("leftBehind").EnumerateArray().Select(e => e.GetString()!).ToList();
        foreach (var tag in tags)
        {
            Assert.Contains($"{server.Host}/{repository}:{tag}", leftBehind);
        }

        // What it kept reads back as an index of the three platforms.
        var oci = tags.Single(t => t.EndsWith("-oci", StringComparison.Ordinal));
        var view = IndexView.Parse((await RegistryContent.GetManifestAsync(server, repository, oci, Cancel))!.Bytes);
        CollectionAssert.AreEqual(new[] { "linux/amd64", "linux/arm64/v8", "linux/arm/v7" }, view.Platforms.ToArray());
    }

    // ---------------------------------------------------------------- a registry that refuses things

    [TestMethod]
    public async Task OciIndexRefused_ThoseRowsNotSupported_BuildFailsForTheRequiredOneOnly()
    {
        var (server, proxy) = await StartProxyAsync();
        var rule = proxy.When(r => r.Method == "PUT" && r.ContentType == MediaTypes.OciIndex, FaultAction.RegistryError(415, "MANIFEST_INVALID", "OCI image indexes are not supported"));
        var repository = TestNames.Repository("regtest-nooci");

        var run = await RunAsync(TestClients.Environment(proxy), proxy.Host + "/" + repository);

        run.AssertFailedWith("MULTIARCH1017");
        var error = run.Engine.Errors.Single();
        StringAssert.Contains(error.Message, "does not support OciIndex (OCI image index)");
        StringAssert.Contains(error.Message, "-> 415 MANIFEST_INVALID (OCI image indexes are not supported)");
        run.AssertStates(
            NotSupported(RegistryCapabilities.OciIndex), NotSupported(RegistryCapabilities.OciIndexAnnotations), NotSupported(RegistryCapabilities.NestedIndex),
            NotSupported(RegistryCapabilities.Referrers));
        foreach (var name in new[] { RegistryCapabilities.OciIndex, RegistryCapabilities.OciIndexAnnotations, RegistryCapabilities.NestedIndex })
        {
            var answer = run.Capability(name).GetProperty("answer");
            Assert.AreEqual(415, answer.GetProperty("status").GetInt32(), name);
            Assert.AreEqual("OCI image indexes are not supported", answer.GetProperty("message").GetString(), name);
        }

        Assert.AreEqual("failed", run.Report.GetProperty("result").GetString());
        StringAssert.Contains(run.Capability(RegistryCapabilities.ExtraTags).GetProperty("detail").GetString(), "manifest list");
        Assert.AreEqual(3, rule.Fired);
        Assert.IsEmpty(await RegistryContent.TagsAsync(server, repository, Cancel));

        // The same registry passes when only the Docker manifest list is required.
        var lenient = await RunAsync(TestClients.Environment(proxy), proxy.Host + "/" + repository, task => task.Require = "DockerManifestList");
        lenient.AssertSucceeded();
    }

    [TestMethod]
    public async Task MountRefusedWith202_MountNotSupported_CopyUsedInstead_FailsOnlyWhenRequired()
    {
        var (server, proxy) = await StartProxyAsync();
        proxy.When(r => r.IsMount, FaultAction.RefuseMount);
        var repository = TestNames.Repository("regtest-nomount");

        var run = await RunAsync(TestClients.Environment(proxy), proxy.Host + "/" + repository);

        run.AssertSucceeded();
        run.AssertStates(NotSupported(RegistryCapabilities.CrossRepositoryMount), NotSupported(RegistryCapabilities.Referrers));
        var mount = run.Capability(RegistryCapabilities.CrossRepositoryMount);
        Assert.AreEqual(202, mount.GetProperty("answer").GetProperty("status").GetInt32());
        StringAssert.Contains(mount.GetProperty("detail").GetString(), "the mount was refused, so the 2 blobs were copied instead; the index was pushed");
        var mounts = proxy.ExchangesFor(r => r.IsMount);
        Assert.HasCount(2, mounts);
        Assert.AreEqual(2, proxy.ExchangesFor(r => r.Method == "DELETE" && r.IsUpload).Count, "each refused mount's upload session is cancelled");
        Assert.IsEmpty(await RegistryContent.TagsAsync(server, repository, Cancel));

        var strict = await RunAsync(TestClients.Environment(proxy), proxy.Host + "/" + repository, task => task.Require = "OciIndex;CrossRepositoryMount");
        strict.AssertFailedWith("MULTIARCH1017");
        StringAssert.Contains(strict.Engine.Errors.Single().Message, "does not support CrossRepositoryMount");
        StringAssert.Contains(strict.Engine.Errors.Single().Message, "-> 202");
    }

    [TestMethod]
    public async Task AnnotationsRejected_OnlyThatRowNotSupported_FailsOnlyWhenRequired()
    {
        var (server, proxy) = await StartProxyAsync();
        var rule = proxy.When(r => r.Is("PUT", "/manifests/"),
            FaultAction.RejectBody(body => Encoding.UTF8.GetString(body).Contains("\"annotations\"", StringComparison.Ordinal), 400, "MANIFEST_INVALID", "annotations are not allowed"));
        var repository = TestNames.Repository("regtest-noannotations");

        var run = await RunAsync(TestClients.Environment(proxy), proxy.Host + "/" + repository);

        run.AssertSucceeded();
        run.AssertStates(NotSupported(RegistryCapabilities.OciIndexAnnotations), NotSupported(RegistryCapabilities.Referrers));
        Assert.AreEqual(
            $"PUT /v2/{repository}/manifests/{RegistryCapabilityTester.RunTagPrefix(RunId(run))}annotated -> 400 MANIFEST_INVALID (annotations are not allowed)",
            run.Capability(RegistryCapabilities.OciIndexAnnotations).GetProperty("detail").GetString());
        Assert.IsGreaterThan(10, rule.Fired, "every manifest PUT went through the rule");

        var strict = await RunAsync(TestClients.Environment(proxy), proxy.Host + "/" + repository, task => task.Require = "OciIndexAnnotations");
        strict.AssertFailedWith("MULTIARCH1017");
        Assert.IsEmpty(await RegistryContent.TagsAsync(server, repository, Cancel));
    }

    [TestMethod]
    public async Task ChunkedUploadRefused_MonolithicCarriesTheBlobs_TheRestSupported()
    {
        var (server, proxy) = await StartProxyAsync();
        var rule = proxy.When(r => r.Method == "PATCH", FaultAction.RegistryError(400, "BLOB_UPLOAD_INVALID", "chunked uploads are not supported"));
        var repository = TestNames.Repository("regtest-nochunks");

        var run = await RunAsync(TestClients.Environment(proxy), proxy.Host + "/" + repository);

        run.AssertSucceeded();
        run.AssertStates(NotSupported(RegistryCapabilities.BlobUploadChunked), NotSupported(RegistryCapabilities.Referrers));
        var answer = run.Capability(RegistryCapabilities.BlobUploadChunked).GetProperty("answer");
        Assert.AreEqual("PATCH", answer.GetProperty("method").GetString());
        StringAssert.StartsWith(answer.GetProperty("path").GetString(), $"/v2/{repository}/blobs/uploads/");
        Assert.AreEqual(400, answer.GetProperty("status").GetInt32());
        Assert.AreEqual("chunked uploads are not supported", answer.GetProperty("message").GetString());
        Assert.AreEqual(1, rule.Fired, "the first refused PATCH ends the check");
        Assert.HasCount(1, proxy.ExchangesFor(r => r.Method == "DELETE" && r.IsUpload), "its upload session is cancelled");
        Assert.IsEmpty(await RegistryContent.TagsAsync(server, repository, Cancel));
    }

    [TestMethod]
    public async Task MonolithicUploadRefused_ChunkedCarriesTheBlobs_CopyNeedsMonolithicToo()
    {
        var (server, proxy) = await StartProxyAsync();
        proxy.When(
            r => r.Method == "PUT" && r.IsUpload && r.Headers.TryGetValue("Content-Length", out var length) && length != "0",
            FaultAction.RegistryError(400, "BLOB_UPLOAD_INVALID", "send the blob in chunks"));
        var repository = TestNames.Repository("regtest-nomonolithic");

        var run = await RunAsync(TestClients.Environment(proxy), proxy.Host + "/" + repository);

        run.AssertSucceeded();
        run.AssertStates(
            NotSupported(RegistryCapabilities.BlobUploadMonolithic), NotSupported(RegistryCapabilities.CrossRepositoryCopy), NotSupported(RegistryCapabilities.Referrers));
        var answer = run.Capability(RegistryCapabilities.BlobUploadMonolithic).GetProperty("answer");
        Assert.AreEqual(400, answer.GetProperty("status").GetInt32());
        Assert.AreEqual("send the blob in chunks", answer.GetProperty("message").GetString());
        Assert.HasCount(2, proxy.ExchangesFor(r => r.Method == "DELETE" && r.IsUpload), "the refused sessions (the check's and the copy's) are cancelled");
        StringAssert.Contains(run.Capability(RegistryCapabilities.CrossRepositoryCopy).GetProperty("detail").GetString(), "-> 400 BLOB_UPLOAD_INVALID");
        Assert.IsEmpty(await RegistryContent.TagsAsync(server, repository, Cancel));
    }

    [TestMethod]
    [DataRow(true, "supported")]
    [DataRow(false, "not supported")]
    public async Task ReferrersApi_WhenTheRegistryHasIt(bool listsTheReferrer, string expected)
    {
        // distribution 2.8 has no referrers API: the proxy plays a registry that has one, answering from the manifests it saw.
        var (server, proxy) = await StartProxyAsync();
        var referrers = new System.Collections.Concurrent.ConcurrentBag<string>();
        proxy.When(r => r.Is("PUT", "/manifests/"), FaultAction.Custom("remember referrers", async context =>
        {
            var body = await context.ReadBodyAsync();
            if (listsTheReferrer && Encoding.UTF8.GetString(body).Contains("\"subject\"", StringComparison.Ordinal))
            {
                referrers.Add($$"""{"mediaType":"{{MediaTypes.OciManifest}}","digest":"{{Digest.FromContent(body)}}","size":{{body.Length}},"artifactType":"{{RegistryTestArtifact.ArtifactType}}"}""");
            }

            await context.RelayAsync(await context.SendUpstreamAsync());
        }));
        proxy.When(r => r.Is("GET", "/referrers/"), FaultAction.Respond("referrers", _ => new ProxyResponse(
            200, Body: Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciIndex}}","manifests":[{{string.Join(",", referrers)}}]}"""), ContentType: MediaTypes.OciIndex)));
        var repository = TestNames.Repository("regtest-referrers");

        var run = await RunAsync(TestClients.Environment(proxy), proxy.Host + "/" + repository);

        run.AssertSucceeded();
        run.AssertStates((RegistryCapabilities.Referrers, expected));
        var detail = run.Capability(RegistryCapabilities.Referrers).GetProperty("detail").GetString()!;
        if (listsTheReferrer)
        {
            Assert.AreEqual($"the referrer (artifactType {RegistryTestArtifact.ArtifactType}) is listed for its subject", detail);
            Assert.HasCount(1, proxy.ExchangesFor(r => r.Is("GET", "/referrers/")));
        }
        else
        {
            StringAssert.Contains(detail, "answered 200, but its list of 0 does not name the referrer sha256:");
            Assert.HasCount(2, proxy.ExchangesFor(r => r.Is("GET", "/referrers/")), "asked again after a second, then gave up");
        }
    }

    [TestMethod]
    public async Task Cancelled_DeletesWhatItPushedBeforeStopping()
    {
        var (server, proxy) = await StartProxyAsync();
        TestContainerRegistry? running = null;
        proxy.When(r => r.Is("PUT", "/manifests/") && r.Path.EndsWith("-nested", StringComparison.Ordinal), FaultAction.Custom("cancel the build", async context =>
        {
            running!.Cancel();
            await context.RelayAsync(await context.SendUpstreamAsync());
        }));
        var repository = TestNames.Repository("regtest-cancel");

        var run = await RunAsync(TestClients.Environment(proxy), proxy.Host + "/" + repository, task => running = task);

        run.AssertFailedWith("MULTIARCH1014");
        Assert.IsFalse(File.Exists(run.ReportPath), "no report for a run that did not finish");
        StringAssert.Contains(run.Engine.AllText, "the registry test stopped early; what it had pushed was deleted.");
        Assert.IsNotEmpty(proxy.ExchangesFor(r => r.Method == "DELETE" && r.IsManifest));
        Assert.IsEmpty(proxy.ExchangesFor(r => r.Is("PUT", "/manifests/") && r.Path.EndsWith("-mount", StringComparison.Ordinal)), "nothing was pushed after the cancellation");
        Assert.IsEmpty(await RegistryContent.TagsAsync(server, repository, Cancel));
    }

    // ---------------------------------------------------------------- inputs

    [TestMethod]
    [DataRow("", null, null, "MULTIARCH4019")]
    [DataRow("{0}/test/regtest:1.0", null, null, "MULTIARCH4021")]
    [DataRow("{0}/Test/RegTest", null, null, "MULTIARCH2001")]
    [DataRow("{0}/test/regtest", "test/regtest", null, "MULTIARCH4022")]
    [DataRow("{0}/test/regtest", "other:tag", null, "MULTIARCH4022")]
    [DataRow("{0}/test/regtest", null, "OciIndex;Bogus", "MULTIARCH4020")]
    public async Task BadInputs_FailBeforeAnyRequest(string repository, string? source, string? require, string code)
    {
        var (_, proxy) = await StartProxyAsync();

        var run = await RunAsync(TestClients.Environment(proxy), string.Format(System.Globalization.CultureInfo.InvariantCulture, repository, proxy.Host), task =>
        {
            task.SourceRepository = source;
            task.Require = require;
        });

        run.AssertFailedWith(code);
        Assert.IsEmpty(proxy.Exchanges, proxy.Transcript());
        Assert.IsFalse(File.Exists(run.ReportPath));
    }

    // ---------------------------------------------------------------- helpers

    private static (string Name, string Result) NotSupported(string name) => (name, "not supported");

    private static string RunId(TaskRun run) => run.Report.GetProperty("runId").GetString()!;

    private void AssertReferrersAnswer404(TaskRun run, string repository)
    {
        var referrers = run.Capability(RegistryCapabilities.Referrers);
        var answer = referrers.GetProperty("answer");
        Assert.AreEqual("GET", answer.GetProperty("method").GetString());
        StringAssert.StartsWith(answer.GetProperty("path").GetString(), $"/v2/{repository}/referrers/sha256:");
        Assert.AreEqual(404, answer.GetProperty("status").GetInt32());
        Assert.IsEmpty(answer.GetProperty("errorCodes").EnumerateArray().ToList());
        Assert.AreEqual("404 page not found", answer.GetProperty("message").GetString());
        StringAssert.EndsWith(referrers.GetProperty("detail").GetString(), "-> 404 (404 page not found): no referrers API; clients fall back to the referrers tag schema");
    }

    private async Task<(RegistryServer Server, FaultProxy Proxy)> StartProxyAsync()
    {
        var server = await TestRegistries.Open;
        var proxy = await ProxyAsync(server);
        return (server, proxy);
    }

    private async Task<TaskRun> RunAsync(IReadOnlyDictionary<string, string?> environment, string repository, Action<TestContainerRegistry>? configure = null)
    {
        var directory = Path.Combine(Path.GetTempPath(), "multiarch-tests", "regtest-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        Resources.AddDirectory(directory);
        var reportPath = Path.Combine(directory, "report", "registry-test.json");
        var engine = new FakeBuildEngine();
        var task = new TestContainerRegistry
        {
            BuildEngine = engine,
            Environment = TestClients.Lookup(environment),
            Repository = repository,
            ReportFile = reportPath,
        };
        configure?.Invoke(task);
        var result = await Task.Run(task.Execute, Cancel);
        var report = File.Exists(reportPath) ? JsonDocument.Parse(await File.ReadAllBytesAsync(reportPath, Cancel)).RootElement.Clone() : default;
        TestContext.WriteLine(engine.AllText);
        return new TaskRun(result, engine, task, reportPath, report);
    }

    private sealed record TaskRun(bool Result, FakeBuildEngine Engine, TestContainerRegistry Task, string ReportPath, JsonElement Report)
    {
        public JsonElement Capability(string name) =>
            Report.GetProperty("capabilities").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

        public void AssertSucceeded()
        {
            Assert.IsTrue(Result, Engine.AllText);
            Assert.IsEmpty(Engine.Errors, Engine.AllText);
        }

        public void AssertFailedWith(string code)
        {
            Assert.IsFalse(Result, Engine.AllText);
            Assert.AreEqual(code, Engine.Errors.Single().Code, Engine.AllText);
        }

        /// <summary>
        /// Every capability is in the report in the documented order, the task's items agree with it, and each is
        /// <c>supported</c> unless <paramref name="exceptions"/> says otherwise.
        /// </summary>
        public void AssertStates(params (string Name, string Result)[] exceptions)
        {
            var rows = Report.GetProperty("capabilities").EnumerateArray().Select(c => (Name: c.GetProperty("name").GetString()!, Result: c.GetProperty("result").GetString()!)).ToList();
            CollectionAssert.AreEqual(s_allNames, rows.Select(r => r.Name).ToArray(), Engine.HighText);
            var expected = s_allNames.Select(n => (Name: n, Result: exceptions.FirstOrDefault(e => e.Name == n).Result ?? "supported")).ToList();
            CollectionAssert.AreEqual(expected.Select(e => $"{e.Name}: {e.Result}").ToArray(), rows.Select(r => $"{r.Name}: {r.Result}").ToArray(), Engine.HighText);
            CollectionAssert.AreEqual(rows.Select(r => $"{r.Name}: {r.Result}").ToArray(), Task.Capabilities.Select(i => $"{i.ItemSpec}: {i.GetMetadata("Result")}").ToArray());
            foreach (var (name, result) in rows)
            {
                StringAssert.Contains(Engine.HighText, name, "the table names every capability");
            }
        }
    }
}

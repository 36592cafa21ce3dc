using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Tasks;
using MultiArch.Build.Tasks.Specs;
using MultiArch.Build.Tasks.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace MultiArch.Build.Tasks.Tests.Tasks;

/// <summary>
/// The <c>PushManifestList</c> task run the way MSBuild runs it (a fake build engine, the environment seam), against
/// the real registry through a <see cref="FaultProxy"/>: the three kinds of input, outputs, the digest file, the
/// summary line, bad inputs that push nothing, and manifest-tool's own examples pinned by golden files.
/// </summary>
[TestClass]
public sealed class PushManifestListTaskTests : RegistryTestBase
{
    // ---------------------------------------------------------------- the three inputs

    [TestMethod]
    public async Task SpecArgumentsAndItems_PushTheSameIndex_AndReportIt()
    {
        var (server, proxy) = await StartAsync();
        var repository = TestNames.Repository("task-inputs");
        var images = TestImages.LinuxPlatforms.Select(p => TestImages.Image(p, "inputs")).ToList();
        // The tags from-args' template makes: 1.0-OS-ARCHVARIANT.
        await PushTestKit.SeedAsync(server, Cancel, [.. images.Select(i => (repository, $"1.0-{i.Platform.Os}-{i.Platform.Architecture}{i.Platform.Variant}", (object)i))]);
        var spec = WriteFile("spec.yaml", $"""
            image: {proxy.Reference(repository, "spec")}
            tags: [spec-extra]
            manifests:
              - image: {proxy.Reference(repository, "1.0-linux-amd64")}
                platform: {"{"}os: linux, architecture: amd64{"}"}
              - image: {proxy.Reference(repository, "1.0-linux-arm64v8")}
                platform: {"{"}os: linux, architecture: arm64, variant: v8{"}"}
              - image: {proxy.Reference(repository, "1.0-linux-armv7")}
                platform: {"{"}os: linux, architecture: arm, variant: v7{"}"}
            """);
        var environment = TestClients.Environment(proxy);

        var fromSpec = await RunAsync(environment, task => task.Spec = spec);
        var fromArguments = await RunAsync(environment, task =>
        {
            task.Platforms = "linux/amd64,linux/arm64/v8,linux/arm/v7";
            task.Template = proxy.Reference(repository, "1.0-OS-ARCHVARIANT");
            task.Target = proxy.Reference(repository, "args");
            task.Tags = "args-extra";
        });
        var fromItems = await RunAsync(environment, task =>
        {
            task.Sources = [.. images.Select(i => Item(i.Platform.ToString(), proxy.Reference(repository, $"1.0-{i.Platform.Os}-{i.Platform.Architecture}{i.Platform.Variant}")))];
            task.Target = proxy.Reference(repository, "items");
            task.Tags = "items-extra";
        });

        var expected = IndexDigest(images);
        foreach (var (name, run) in new[] { ("spec", fromSpec), ("args", fromArguments), ("items", fromItems) })
        {
            run.AssertSucceeded();
            Assert.AreEqual(expected.Digest, run.Task.Digest, name);
            Assert.AreEqual(expected.Size, run.Task.Size, name);
            Assert.AreEqual(MediaTypes.OciIndex, run.Task.MediaType, name);
            CollectionAssert.AreEqual(new[] { proxy.Reference(repository, name), proxy.Reference(repository, name + "-extra") }, run.Task.PushedReferences.Select(i => i.ItemSpec).ToArray(), name);
            foreach (var item in run.Task.PushedReferences)
            {
                Assert.AreEqual(expected.Digest, item.GetMetadata("Digest"));
                Assert.AreEqual(MediaTypes.OciIndex, item.GetMetadata("MediaType"));
                Assert.AreEqual("linux/amd64;linux/arm64/v8;linux/arm/v7", item.GetMetadata("Platforms"));
            }

            Assert.AreEqual(expected.Digest, await RegistryContent.ResolveAsync(server, repository, name, Cancel), name);
            Assert.AreEqual(expected.Digest, await RegistryContent.ResolveAsync(server, repository, name + "-extra", Cancel), name);
        }
    }

    [TestMethod]
    public async Task Items_OnTheTlsRegistry_WindowsOsVersionAndAnnotationsFromMetadata()
    {
        var server = await TestRegistries.Tls;
        var repository = TestNames.Repository("task-items-tls");
        var amd64 = TestImages.Image(TestImages.LinuxAmd64, "items");
        var windows = TestImages.Image(new Platform("windows", "amd64"), "items-ltsc2022"); // config without os.version
        await PushTestKit.SeedAsync(server, Cancel, (repository, "1.0-amd64", amd64), (repository, "1.0-ltsc2022", windows));

        var run = await RunAsync(TestClients.Environment(server), task =>
        {
            task.Sources =
            [
                Item("linux/amd64", server.Reference(repository, "1.0-amd64"), ("Annotations", "org.opencontainers.image.description=64-bit x86;com.example.a=b=c")),
                Item("windows/amd64", server.Reference(repository, "1.0-ltsc2022"), ("OSVersion", "10.0.20348.2113"), ("OSFeatures", "win32k")),
                new TaskItem("linux/s390x"), // no Image metadata: not a source
            ];
            task.Target = server.Reference(repository, "1.0");
            task.Annotations = "org.opencontainers.image.title=Items";
        }, tls: server);

        run.AssertSucceeded();
        var view = IndexView.Parse((await RegistryContent.GetManifestAsync(server, repository, "1.0", Cancel))!.Bytes);
        CollectionAssert.AreEqual(new[] { "linux/amd64", "windows/amd64" }, view.Platforms.ToArray());
        CollectionAssert.AreEqual(new[] { amd64.Digest.ToString(), windows.Digest.ToString() }, view.Entries.Select(e => e.Digest).ToArray());
        Assert.AreEqual("10.0.20348.2113", view.Entries[1].OsVersion);
        CollectionAssert.AreEqual(new[] { "win32k" }, view.Entries[1].OsFeatures.ToArray());
        Assert.AreEqual("64-bit x86", view.Entries[0].Annotations["org.opencontainers.image.description"]);
        Assert.AreEqual("b=c", view.Entries[0].Annotations["com.example.a"]);
        Assert.AreEqual("Items", view.Annotations["org.opencontainers.image.title"]);
        Assert.AreEqual(run.Task.Digest, await RegistryContent.ResolveAsync(server, repository, "1.0", Cancel));
    }

    [TestMethod]
    public async Task PublishOutputItems_WithDigestsAndNoPlatformCheck_ReadNoManifestAndNoConfig()
    {
        var (server, proxy) = await StartAsync();
        var repository = TestNames.Repository("task-known");
        var images = TestImages.LinuxPlatforms.Select(p => TestImages.Image(p, "known")).ToList();
        await PushTestKit.SeedAsync(server, Cancel, [.. images.Select(i => (repository, i.Platform.Architecture, (object)i))]);

        var run = await RunAsync(TestClients.Environment(proxy), task =>
        {
            // What a per-RID publish returns: the digest, media type and size of each image it pushed.
            task.Sources = [.. images.Select(i => Item(i.Platform.ToString(), proxy.Reference(repository, i.Platform.Architecture),
                ("ManifestDigest", i.Digest.ToString()), ("ManifestMediaType", i.MediaType), ("ManifestSize", i.Size.ToString(System.Globalization.CultureInfo.InvariantCulture))))];
            task.Target = proxy.Reference(repository, "1.0");
            task.VerifyPlatforms = false;
        });

        run.AssertSucceeded();
        Assert.AreEqual(IndexDigest(images).Digest, run.Task.Digest);
        Assert.IsFalse(proxy.Exchanges.Any(e => e.Method == "GET" && !e.Request.Path.EndsWith("/manifests/1.0", StringComparison.Ordinal)), proxy.Transcript());
        CollectionAssert.AreEquivalent(
            images.Select(i => $"HEAD /v2/{repository}/manifests/{i.Digest}").Append($"GET /v2/{repository}/manifests/1.0").Append($"PUT /v2/{repository}/manifests/1.0").ToArray(),
            proxy.Exchanges.Select(e => $"{e.Method} {e.Request.Path}").ToArray(),
            "one HEAD per child (is it in the target repository?), the tag's current content, then the tag");
    }

    [TestMethod]
    public async Task UnknownFormat_IsRefusedBeforeAnyRequest()
    {
        var (_, proxy) = await StartAsync();

        var run = await RunAsync(TestClients.Environment(proxy), task =>
        {
            task.Sources = [Item("linux/amd64", proxy.Reference("a/b", "amd64"))];
            task.Target = proxy.Reference("a/b", "1.0");
            task.Format = "OCI-ish";
        });

        run.AssertFailedWith("MULTIARCH4007");
        Assert.IsEmpty(proxy.Exchanges);
    }

    [TestMethod]
    public async Task Cancelled_WhileTheTagIsBeingWritten_MovesNoTag()
    {
        var (server, proxy) = await StartAsync();
        var repository = TestNames.Repository("task-cancel");
        var previous = TestImages.Image(TestImages.LinuxArmV7, "previous");
        var amd64 = TestImages.Image(TestImages.LinuxAmd64, "cancel");
        await PushTestKit.SeedAsync(server, Cancel, (repository, "1.0", previous), (repository, "amd64", amd64));
        var arrived = new TaskCompletionSource();
        proxy.When(r => r.Is("PUT", "/manifests/1.0"), FaultAction.Custom("hold the tag PUT", async context =>
        {
            arrived.TrySetResult();
            await Task.Delay(TimeSpan.FromSeconds(30), context.Aborted);
            await context.RelayAsync(await context.SendUpstreamAsync());
        }));
        var engine = new FakeBuildEngine();
        var task = new PushManifestList
        {
            BuildEngine = engine,
            Environment = TestClients.Lookup(TestClients.Environment(proxy)),
            Sources = [Item("linux/amd64", proxy.Reference(repository, "amd64"))],
            Target = proxy.Reference(repository, "1.0"),
        };

        var execution = Task.Run(task.Execute);
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(20), Cancel);
        task.Cancel();
        var result = await execution.WaitAsync(TimeSpan.FromSeconds(20), Cancel);

        Assert.IsFalse(result);
        Assert.AreEqual("MULTIARCH1014", engine.Errors.Single().Code, engine.AllText);
        await WaitUntilAsync(() => proxy.ExchangesFor(r => r.Method == "PUT").Count == 1);
        Assert.IsNull(proxy.ExchangesFor(r => r.Method == "PUT").Single().UpstreamStatus, "the held PUT never reached the registry");
        Assert.AreEqual(previous.Digest.ToString(), await RegistryContent.ResolveAsync(server, repository, "1.0", Cancel));
    }

    // ---------------------------------------------------------------- outputs

    [TestMethod]
    public async Task DigestFileAndSummaryLine()
    {
        var (server, proxy) = await StartAsync();
        var repository = TestNames.Repository("task-summary");
        var images = TestImages.LinuxPlatforms.Select(p => TestImages.Image(p, "summary")).ToList();
        await PushTestKit.SeedAsync(server, Cancel, [.. images.Select(i => (repository, i.Platform.Architecture, (object)i))]);
        var digestFile = Path.Combine(TempDirectory(), "out", "nested", "digest.txt");

        var run = await RunAsync(TestClients.Environment(proxy), task =>
        {
            task.Sources = [.. images.Select(i => Item(i.Platform.ToString(), proxy.Reference(repository, i.Platform.Architecture)))];
            task.Target = proxy.Reference(repository, "1.0");
            task.Tags = "latest";
            task.DigestFile = digestFile;
        });

        run.AssertSucceeded();
        var digest = IndexDigest(images).Digest;
        Assert.AreEqual(digest, File.ReadAllText(digestFile));
        var high = run.Engine.Messages.Where(m => m.Importance == MessageImportance.High).Select(m => m.Message).ToList();
        Assert.AreEqual($"Pushed {proxy.Host}/{repository}:1.0@{digest} (3 platforms: linux/amd64, linux/arm64/v8, linux/arm/v7)", high.Last());
        Assert.HasCount(1, high, "one line per outcome");
        Assert.IsEmpty(run.Engine.Warnings);
    }

    [TestMethod]
    public async Task DryRun_WritesNothing_NoDigestFile_PrintsTheIndexAndItsDigest()
    {
        var (server, proxy) = await StartAsync();
        var repository = TestNames.Repository("task-dry");
        var source = TestNames.Repository("task-dry-src");
        var amd64 = TestImages.Image(TestImages.LinuxAmd64, "task-dry");
        var arm64 = TestImages.Image(TestImages.LinuxArm64, "task-dry");
        await PushTestKit.SeedAsync(server, Cancel, (repository, "amd64", amd64), (source, "arm64", arm64));
        var digestFile = Path.Combine(TempDirectory(), "digest.txt");

        var run = await RunAsync(TestClients.Environment(proxy), task =>
        {
            task.Sources = [Item("linux/amd64", proxy.Reference(repository, "amd64")), Item("linux/arm64", proxy.Reference(source, "arm64"))];
            task.Target = proxy.Reference(repository, "1.0");
            task.DryRun = true;
            task.DigestFile = digestFile;
        });

        run.AssertSucceeded();
        Assert.IsEmpty(proxy.Writes(), proxy.Transcript());
        Assert.IsFalse(File.Exists(digestFile));
        Assert.IsEmpty(run.Task.PushedReferences);
        var expected = IndexDigest([amd64, arm64]);
        Assert.AreEqual(expected.Digest, run.Task.Digest);
        StringAssert.Contains(run.Engine.HighText, expected.Json);
        StringAssert.Contains(run.Engine.HighText, $"Dry run: would push {proxy.Host}/{repository}@{expected.Digest} (2 platforms: linux/amd64, linux/arm64/v8); nothing was written to the registry.");
        Assert.IsNull(await RegistryContent.ResolveAsync(server, repository, "1.0", Cancel));
    }

    [TestMethod]
    public async Task IgnoreMissing_WarnsWithTheCode_AndPushesTheRest()
    {
        var (server, proxy) = await StartAsync();
        var repository = TestNames.Repository("task-ignore");
        var amd64 = TestImages.Image(TestImages.LinuxAmd64, "task-ignore");
        await PushTestKit.SeedAsync(server, Cancel, (repository, "1.0-linux-amd64", amd64));

        var run = await RunAsync(TestClients.Environment(proxy), task =>
        {
            task.Platforms = "linux/amd64,linux/arm64";
            task.Template = proxy.Reference(repository, "1.0-OS-ARCH");
            task.Target = proxy.Reference(repository, "1.0");
            task.IgnoreMissing = true;
        });

        run.AssertSucceeded();
        Assert.AreEqual("MULTIARCH2003", run.Engine.Warnings.Single().Code);
        StringAssert.Contains(run.Engine.Warnings.Single().Message, "1.0-linux-arm64");
        CollectionAssert.AreEqual(new[] { amd64.Digest.ToString() }, IndexView.Parse((await RegistryContent.GetManifestAsync(server, repository, "1.0", Cancel))!.Bytes).Entries.Select(e => e.Digest).ToArray());
    }

    // ---------------------------------------------------------------- bad inputs push nothing

    /// <summary>
    /// Spec templates: <c>{target}</c> is the target reference, <c>{amd64}</c>, <c>{arm64}</c> (OCI), <c>{docker}</c> (a Docker
    /// amd64 image) and <c>{win}</c> (windows/amd64, os.version 10.0.20348.2113) are sources in the target's repository.
    /// </summary>
    [TestMethod]
    [DataRow("malformed-yaml", "MULTIARCH3002", "image: {target}\nmanifests:\n  - image: [{amd64}\n")]
    [DataRow("unknown-key", "MULTIARCH3003", "image: {target}\nplatforms: [linux/amd64]\nmanifests:\n  - image: {amd64}\n")]
    [DataRow("invalid-tag-in-spec", "MULTIARCH3007", "image: {target}\ntags: [ok, -rc1]\nmanifests:\n  - image: {amd64}\n")]
    [DataRow("missing-source", "MULTIARCH2003", "image: {target}\nmanifests:\n  - image: {amd64}\n  - image: {missing}\n")]
    [DataRow("platform-contradicts-config", "MULTIARCH2013", "image: {target}\nmanifests:\n  - image: {amd64}\n    platform: {os: linux, architecture: arm64}\n")]
    [DataRow("os-version-contradicts-config", "MULTIARCH2013", "image: {target}\nmanifests:\n  - image: {win}\n    platform: {os: windows, architecture: amd64, osversion: 10.0.17763.2300}\n")]
    [DataRow("duplicate-platform", "MULTIARCH2014", "image: {target}\nmanifests:\n  - image: {amd64}\n  - image: {docker}\n")]
    [DataRow("docker-with-oci-children", "MULTIARCH2015", "image: {target}\nformat: docker\nmanifests:\n  - image: {docker}\n  - image: {arm64}\n")]
    [DataRow("annotations-with-docker", "MULTIARCH2016", "image: {target}\nformat: docker\nannotations: {a: b}\nmanifests:\n  - image: {docker}\n")]
    [DataRow("entry-annotations-with-docker", "MULTIARCH2016", "image: {target}\nformat: docker\nmanifests:\n  - image: {docker}\n    annotations: {a: b}\n")]
    public async Task BadSpec_FailsWithItsCode_PushesNothing_LeavesTheTargetTagAlone(string name, string code, string template)
    {
        var (server, proxy) = await StartAsync();
        var repository = TestNames.Repository("task-bad-" + name);
        var previous = TestImages.Image(TestImages.LinuxArmV7, "previous");
        var amd64 = TestImages.Image(TestImages.LinuxAmd64, "bad");
        var arm64 = TestImages.Image(TestImages.LinuxArm64, "bad");
        var docker = TestImages.Image(TestImages.LinuxAmd64, "bad", ImageFormat.Docker);
        var win = TestImages.Image(TestImages.WindowsAmd64, "bad");
        await PushTestKit.SeedAsync(server, Cancel, (repository, "1.0", previous), (repository, "amd64", amd64), (repository, "arm64", arm64), (repository, "docker", docker), (repository, "win", win));
        var spec = WriteFile(name + ".yaml", template
            .Replace("{target}", proxy.Reference(repository, "1.0"), StringComparison.Ordinal)
            .Replace("{amd64}", proxy.Reference(repository, "amd64"), StringComparison.Ordinal)
            .Replace("{arm64}", proxy.Reference(repository, "arm64"), StringComparison.Ordinal)
            .Replace("{docker}", proxy.Reference(repository, "docker"), StringComparison.Ordinal)
            .Replace("{win}", proxy.Reference(repository, "win"), StringComparison.Ordinal)
            .Replace("{missing}", proxy.Reference(repository, "no-such-tag"), StringComparison.Ordinal));

        var run = await RunAsync(TestClients.Environment(proxy), task => task.Spec = spec);

        run.AssertFailedWith(code);
        Assert.IsEmpty(proxy.Writes(), proxy.Transcript());
        Assert.IsNull(run.Task.Digest);
        Assert.IsEmpty(run.Task.PushedReferences);
        Assert.AreEqual(previous.Digest.ToString(), await RegistryContent.ResolveAsync(server, repository, "1.0", Cancel), "the target tag still points where it did");
        CollectionAssert.AreEqual(new[] { "1.0", "amd64", "arm64", "docker", "win" }, (await RegistryContent.TagsAsync(server, repository, Cancel)).ToArray());
    }

    [TestMethod]
    [DataRow("arguments")]
    [DataRow("items")]
    public async Task InvalidExtraTag_IsRefusedBeforeAnyRequest(string input)
    {
        var (server, proxy) = await StartAsync();
        var repository = TestNames.Repository("task-bad-tag");
        var previous = TestImages.Image(TestImages.LinuxAmd64, "previous");
        await PushTestKit.SeedAsync(server, Cancel, (repository, "1.0", previous), (repository, "1.0-linux-amd64", TestImages.Image(TestImages.LinuxAmd64, "tag")));

        var run = await RunAsync(TestClients.Environment(proxy), task =>
        {
            if (input == "arguments")
            {
                task.Platforms = "linux/amd64";
                task.Template = proxy.Reference(repository, "1.0-OS-ARCH");
            }
            else
            {
                task.Sources = [Item("linux/amd64", proxy.Reference(repository, "1.0-linux-amd64"))];
            }

            task.Target = proxy.Reference(repository, "1.0");
            task.Tags = "1;bad tag!;latest";
        });

        run.AssertFailedWith("MULTIARCH2018");
        StringAssert.Contains(run.Engine.Errors.Single().Message, "'bad tag!'");
        Assert.IsEmpty(proxy.Exchanges, "not one request: every tag is checked before anything is read or written");
        Assert.AreEqual(previous.Digest.ToString(), await RegistryContent.ResolveAsync(server, repository, "1.0", Cancel));
    }

    [TestMethod]
    [DataRow("spec+arguments")]
    [DataRow("spec+items")]
    [DataRow("arguments+items")]
    public async Task TwoInputsAtOnce_AreRefused(string inputs)
    {
        var (_, proxy) = await StartAsync();
        var spec = WriteFile("spec.yaml", $"image: {proxy.Reference("a/b", "1")}\nmanifests:\n  - image: {proxy.Reference("a/b", "amd64")}\n");

        var run = await RunAsync(TestClients.Environment(proxy), task =>
        {
            task.Target = proxy.Reference("a/b", "1");
            if (inputs.Contains("spec", StringComparison.Ordinal))
            {
                task.Spec = spec;
            }

            if (inputs.Contains("arguments", StringComparison.Ordinal))
            {
                task.Platforms = "linux/amd64";
                task.Template = proxy.Reference("a/b", "ARCH");
            }

            if (inputs.Contains("items", StringComparison.Ordinal))
            {
                task.Sources = [Item("linux/amd64", proxy.Reference("a/b", "amd64"))];
            }
        });

        run.AssertFailedWith("MULTIARCH4004");
        Assert.IsEmpty(proxy.Exchanges);
    }

    // ---------------------------------------------------------------- manifest-tool's own examples

    /// <summary>
    /// The YAML examples of manifest-tool's README (testassets/specs/valid), unchanged but for the registry, pushed to a
    /// registry of their own (so the repository names stay as written) from deterministic images; the golden files pin
    /// the index bytes. The README example gets Docker images, so the default format gives the Docker manifest list
    /// manifest-tool pushes by default; the all-keys example has annotations, so it is an OCI index.
    /// </summary>
    [TestMethod]
    [DataRow("manifest-tool-readme.yaml", "myprivreg:5000", ImageFormat.Docker, MediaTypes.DockerManifestList, 2)]
    [DataRow("manifest-tool-all-keys.yaml", "127.0.0.1:5000", ImageFormat.Oci, MediaTypes.OciIndex, 3)]
    public async Task ManifestToolExamples_PushThePinnedIndex(string file, string registryInExample, ImageFormat format, string mediaType, int platforms)
    {
        await using var server = await RegistryServer.StartAsync(cancellationToken: Cancel);
        var text = File.ReadAllText(Path.Combine(RepoPaths.TestAssets, "specs", "valid", file));
        var spec = WriteFile(file, text.Replace(registryInExample, server.Host, StringComparison.Ordinal));
        var example = ManifestSpecReader.ReadFile(spec);
        foreach (var entry in example.Manifests)
        {
            // One deterministic image per entry, built for the platform the example gives it.
            var reference = ImageReference.Parse(entry.Image);
            var p = entry.Platform!;
            var image = TestImages.Image(new Platform(p.Os!, p.Architecture!, p.Variant ?? (p.Architecture == "arm64" ? "v8" : null), p.OsVersion, p.OsFeatures), "manifest-tool", format);
            await SkopeoPusher.PushAsync(server, reference.Repository, reference.Tag!, image, Cancel);
        }

        var run = await RunAsync(TestClients.Environment(server), task => task.Spec = spec);

        run.AssertSucceeded();
        var target = ImageReference.Parse(example.Image);
        var served = (await RegistryContent.GetManifestAsync(server, target.Repository, target.Tag!, Cancel))!;
        Assert.AreEqual(mediaType, served.ContentType);
        Assert.AreEqual(run.Task.Digest, served.Digest.ToString());
        Assert.HasCount(platforms, IndexView.Parse(served.Bytes).Entries);
        foreach (var tag in example.Tags)
        {
            Assert.AreEqual(run.Task.Digest, await RegistryContent.ResolveAsync(server, target.Repository, tag, Cancel), tag);
        }

        Approvals.Verify(served.Text, "push/" + Path.ChangeExtension(file, ".json"));
    }

    // ---------------------------------------------------------------- helpers

    private async Task<(RegistryServer Server, FaultProxy Proxy)> StartAsync(RegistryMode mode = RegistryMode.Open)
    {
        var server = await TestRegistries.Get(mode);
        var proxy = await ProxyAsync(server);
        return (server, proxy);
    }

    /// <summary>Runs the task as MSBuild would (synchronous Execute, on a pool thread) with the given environment.</summary>
    private static async Task<TaskRun> RunAsync(IReadOnlyDictionary<string, string?> environment, Action<PushManifestList> configure, RegistryServer? tls = null)
    {
        var engine = new FakeBuildEngine();
        var task = new PushManifestList { BuildEngine = engine, Environment = TestClients.Lookup(environment) };
        if (tls is not null)
        {
            task.TransportFactory = tls.CreateTrustingHandler;
        }

        configure(task);
        var result = await Task.Run(task.Execute);
        return new TaskRun(result, engine, task);
    }

    private static TaskItem Item(string platform, string image, params (string Name, string Value)[] metadata)
    {
        var item = new TaskItem(platform);
        item.SetMetadata("Image", image);
        foreach (var (name, value) in metadata)
        {
            item.SetMetadata(name, value);
        }

        return item;
    }

    /// <summary>The OCI index the publisher must write for these images (platforms from their configs), per the notes' §6.2.</summary>
    private static (string Json, string Digest, long Size) IndexDigest(IReadOnlyList<TestImage> images)
    {
        var json = new StringBuilder("{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"application/vnd.oci.image.index.v1+json\",\n  \"manifests\": [");
        for (var i = 0; i < images.Count; i++)
        {
            var image = images[i];
            json.Append(i == 0 ? "\n" : ",\n")
                .Append("    {\n")
                .Append($"      \"mediaType\": \"{image.MediaType}\",\n")
                .Append($"      \"digest\": \"{image.Digest}\",\n")
                .Append($"      \"size\": {image.Size},\n")
                .Append("      \"platform\": {\n")
                .Append($"        \"architecture\": \"{image.Platform.Architecture}\",\n")
                .Append($"        \"os\": \"{image.Platform.Os}\"")
                .Append(image.Platform.Variant is null ? string.Empty : $",\n        \"variant\": \"{image.Platform.Variant}\"")
                .Append("\n      }\n    }");
        }

        json.Append("\n  ]\n}");
        var bytes = Encoding.UTF8.GetBytes(json.ToString());
        return (json.ToString(), Digest.FromContent(bytes).ToString(), bytes.Length);
    }

    private async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 100 && !condition(); i++)
        {
            await Task.Delay(50, Cancel);
        }

        Assert.IsTrue(condition(), "timed out waiting");
    }

    private string TempDirectory()
    {
        var directory = Path.Combine(Path.GetTempPath(), "multiarch-tests", "task-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        Resources.AddDirectory(directory);
        return directory;
    }

    private string WriteFile(string name, string content)
    {
        var path = Path.Combine(TempDirectory(), name);
        File.WriteAllText(path, content);
        return path;
    }

    private sealed record TaskRun(bool Result, FakeBuildEngine Engine, PushManifestList Task)
    {
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
    }
}

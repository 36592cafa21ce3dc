using System.Collections.Immutable;
using System.Text;
using MultiArch.Build.Tasks.Inspection;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Publishing;

namespace MultiArch.Build.Tasks.Tests.Unit;

/// <summary>
/// Inspect results built in memory from hand-made manifest and config JSON. The manifest-tool samples (notes
/// manifest-tool.md §6.3) are rebuilt from their exact bytes: the three roots, the amd64, arm64, Windows and
/// attestation manifests and the Windows config hash to the digests the notes show (see
/// <c>InspectFormatterTests.SampleBytesHashToTheNotesDigests</c>). Two pieces are synthetic because the notes do not
/// show their bytes: the linux/arm/v7 manifest (its index descriptor still carries the sample digest and length, and
/// its layer the sample layer digest) and the linux configs (nothing displays their digest).
/// </summary>
internal static class InspectSamples
{
    public const string Amd64Digest = "sha256:6358b35b1a8d4aa19754fb2edc3990a955016ef34e161063a15026fd0670b4b9";
    public const string Arm64Digest = "sha256:f77bf152a0c0f4cf049a1d42941f42c5b2d1ae05a7a978e4d4e56c4b8104a399";
    public const string ArmV7Digest = "sha256:3009379c695ce8db3fa913e09fbeff1632164fc0eef48eb3cbb53f096a55e768";
    public const string WindowsDigest = "sha256:25cb5867501a05332e16bf86e67ec389a7d54de778b79289ef8f3bb9acaa18c3";
    public const string AttestationDigest = "sha256:10cbd1a581f93a942f197114319105b306ba181afc9350edeff6379ec1838835";
    public const string DockerListDigest = "sha256:891dbcdd6be595575aadccc87b7a703322e98369f2eaa244659af7fe3fffe864";
    public const string WithAttestationDigest = "sha256:78bda398ef4d25cd3311a852a831dd06f5f4014c9d950516838f9def295a927b";
    public const string WithWindowsDigest = "sha256:a0e10033e8d3632bba3bce18f35e914a978e73c16307fe13fc8dbc3acc2198aa";

    private const string OciLayer = MediaTypes.OciLayer;

    // manifest-tool's demo:latest, `push --type docker` of three platforms (v2.1.5 bytes, 982).
    public const string DockerListJson =
        """
        {
          "schemaVersion": 2,
          "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
          "manifests": [
            {
              "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "size": 401,
              "digest": "sha256:6358b35b1a8d4aa19754fb2edc3990a955016ef34e161063a15026fd0670b4b9",
              "platform": {
                "architecture": "amd64",
                "os": "linux"
              }
            },
            {
              "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "size": 401,
              "digest": "sha256:f77bf152a0c0f4cf049a1d42941f42c5b2d1ae05a7a978e4d4e56c4b8104a399",
              "platform": {
                "architecture": "arm64",
                "os": "linux",
                "variant": "v8"
              }
            },
            {
              "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "size": 401,
              "digest": "sha256:3009379c695ce8db3fa913e09fbeff1632164fc0eef48eb3cbb53f096a55e768",
              "platform": {
                "architecture": "arm",
                "os": "linux",
                "variant": "v7"
              }
            }
          ]
        }
        """;

    // withatt:latest: the v2.1.5 OCI index (no top-level mediaType) of a flattened BuildKit source (1093 bytes).
    public const string WithAttestationJson =
        """
        {
          "schemaVersion": 2,
          "manifests": [
            {
              "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "digest": "sha256:6358b35b1a8d4aa19754fb2edc3990a955016ef34e161063a15026fd0670b4b9",
              "size": 401,
              "platform": {
                "architecture": "amd64",
                "os": "linux"
              }
            },
            {
              "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "digest": "sha256:f77bf152a0c0f4cf049a1d42941f42c5b2d1ae05a7a978e4d4e56c4b8104a399",
              "size": 401,
              "platform": {
                "architecture": "arm64",
                "os": "linux",
                "variant": "v8"
              }
            },
            {
              "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "digest": "sha256:10cbd1a581f93a942f197114319105b306ba181afc9350edeff6379ec1838835",
              "size": 458,
              "annotations": {
                "vnd.docker.reference.digest": "sha256:6358b35b1a8d4aa19754fb2edc3990a955016ef34e161063a15026fd0670b4b9",
                "vnd.docker.reference.type": "attestation-manifest"
              },
              "platform": {
                "architecture": "unknown",
                "os": "unknown"
              }
            }
          ]
        }
        """;

    // demo:noplat: the v2.1.5 OCI index with a Windows entry (1275 bytes).
    public const string WithWindowsJson =
        """
        {
          "schemaVersion": 2,
          "manifests": [
            {
              "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "digest": "sha256:6358b35b1a8d4aa19754fb2edc3990a955016ef34e161063a15026fd0670b4b9",
              "size": 401,
              "platform": {
                "architecture": "amd64",
                "os": "linux"
              }
            },
            {
              "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "digest": "sha256:f77bf152a0c0f4cf049a1d42941f42c5b2d1ae05a7a978e4d4e56c4b8104a399",
              "size": 401,
              "platform": {
                "architecture": "arm64",
                "os": "linux",
                "variant": "v8"
              }
            },
            {
              "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "digest": "sha256:3009379c695ce8db3fa913e09fbeff1632164fc0eef48eb3cbb53f096a55e768",
              "size": 401,
              "platform": {
                "architecture": "arm",
                "os": "linux",
                "variant": "v7"
              }
            },
            {
              "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "digest": "sha256:25cb5867501a05332e16bf86e67ec389a7d54de778b79289ef8f3bb9acaa18c3",
              "size": 401,
              "platform": {
                "architecture": "amd64",
                "os": "windows",
                "os.version": "10.0.20348.2113",
                "os.features": [
                  "win32k"
                ]
              }
            }
          ]
        }
        """;

    /// <summary>make-image.py writes compact JSON in this key order; these rebuild its manifests exactly.</summary>
    public static string CompactOciManifest(string configDigest, int configSize, params string[] layers) =>
        $$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{configDigest}}","size":{{Invariant(configSize)}}},"layers":[{{string.Join(",", layers)}}]}""";

    public static string CompactLayer(string digest, int size, string mediaType = OciLayer, string annotations = "") =>
        $$"""{"mediaType":"{{mediaType}}","digest":"{{digest}}","size":{{Invariant(size)}}{{annotations}}}""";

    /// <summary>The exact config of demo:win (§6.4 shows it re-serialised; these bytes hash to the manifest's config digest).</summary>
    public const string WindowsConfigJson =
        """{"created":"2023-11-14T22:13:20Z","architecture":"amd64","os":"windows","os.version":"10.0.20348.2113","os.features":["win32k"],"config":{"Cmd":["/hello"]},"rootfs":{"type":"layers","diff_ids":["sha256:fd4743d91cdcad49a90011c5596740bb07b7ac9b9048e5823db4b7b0d8307c7e"]},"history":[{"created":"2023-11-14T22:13:20Z","created_by":"make-image.py"}]}""";

    public static ImageManifest Amd64Manifest => ParseManifest(CompactOciManifest(
        "sha256:7fe7c4bcda85896126013c690851ee45075d27de1b9a63cfd1c5896e87ffdd0d", 288,
        CompactLayer("sha256:5f10cc50936636e9794d06fae47226b83063a0deec092b8a17c51ff21940bf8d", 137)));

    public static ImageManifest Arm64Manifest => ParseManifest(CompactOciManifest(
        "sha256:85fabd4c90f60cae94133ff22cc82b14fdac3a42632b933151a5054cfae8659a", 303,
        CompactLayer("sha256:d2229505933ee570d8efc38e84b837262595d9f8be4c4255e7d8abc430b7a52f", 140)));

    /// <summary>Synthetic: the notes do not show this manifest's config, so its own digest is not the sample's.</summary>
    public static ImageManifest ArmV7Manifest => ParseManifest(CompactOciManifest(
        Digest.FromContent(Encoding.UTF8.GetBytes(LinuxConfigJson("arm", "v7"))).ToString(), LinuxConfigJson("arm", "v7").Length,
        CompactLayer("sha256:25baa10a8095a44a5fbaf563eb71d745cc7cf8409b4306dc4fba0b859feefe73", 139)));

    public static ImageManifest WindowsManifest => ParseManifest(CompactOciManifest(
        Digest.FromContent(Encoding.UTF8.GetBytes(WindowsConfigJson)).ToString(), WindowsConfigJson.Length,
        CompactLayer("sha256:5140b9d9ae68a4f3a747fc7dbd4e2da201a446b48e6492ec44e6e80b192c6653", 138)));

    public static ImageManifest AttestationManifest => ParseManifest(CompactOciManifest(
        "sha256:0168d33816ba468760051dc6de69faa1f15cd472e61ea73b25b7b4df351f906a", 167,
        CompactLayer("sha256:6e980ff7d5cc0b8950b934baa9b99e9a2823d2e12501239faa0ce96871951811", 244, "application/vnd.in-toto+json",
            ""","annotations":{"in-toto.io/predicate-type":"https://spdx.dev/Document"}""")));

    /// <summary>A linux config in make-image.py's shape (synthetic: the notes do not show the linux configs).</summary>
    public static string LinuxConfigJson(string architecture, string? variant = null) =>
        $$$"""{"created":"2023-11-14T22:13:20Z","architecture":"{{{architecture}}}",{{{(variant is null ? string.Empty : $"\"variant\":\"{variant}\",")}}}"os":"linux","config":{"Cmd":["/hello"]},"rootfs":{"type":"layers","diff_ids":[]}}""";

    /// <summary>The children the samples' indexes point at, by the digest their index descriptors carry.</summary>
    public static IReadOnlyDictionary<string, (ManifestContent Manifest, ImageConfig? Config)> SampleChildren => new Dictionary<string, (ManifestContent, ImageConfig?)>
    {
        [Amd64Digest] = (Amd64Manifest, ParseConfig(LinuxConfigJson("amd64"))),
        [Arm64Digest] = (Arm64Manifest, ParseConfig(LinuxConfigJson("arm64", "v8"))),
        [ArmV7Digest] = (ArmV7Manifest, ParseConfig(LinuxConfigJson("arm", "v7"))),
        [WindowsDigest] = (WindowsManifest, ParseConfig(WindowsConfigJson)),
        [AttestationDigest] = (AttestationManifest, null),
    };

    /// <summary><c>inspect 127.0.0.1:5101/demo:latest</c>.</summary>
    public static InspectResult DockerList() => Index("127.0.0.1:5101/demo:latest", DockerListJson, MediaTypes.DockerManifestList, SampleChildren);

    /// <summary><c>inspect 127.0.0.1:5101/withatt:latest</c>.</summary>
    public static InspectResult WithAttestation() => Index("127.0.0.1:5101/withatt:latest", WithAttestationJson, MediaTypes.OciIndex, SampleChildren);

    /// <summary><c>inspect 127.0.0.1:5101/demo:noplat</c>.</summary>
    public static InspectResult WithWindows() => Index("127.0.0.1:5101/demo:noplat", WithWindowsJson, MediaTypes.OciIndex, SampleChildren);

    /// <summary><c>inspect 127.0.0.1:5101/demo:amd64</c>.</summary>
    public static InspectResult Amd64Image() =>
        new("127.0.0.1:5101/demo:amd64", ImageReference.Parse("127.0.0.1:5101/demo:amd64"), Amd64Manifest, ParseConfig(LinuxConfigJson("amd64")), []);

    /// <summary>
    /// An index the way our own push writes it (ImageIndex.Create, OCI, with annotations) holding linux/amd64,
    /// linux/arm64/v8, a Windows entry and the amd64 attestation.
    /// </summary>
    public static InspectResult AttestationAndWindows()
    {
        var children = SampleChildren;
        var descriptors = new[]
        {
            Entry(Amd64Digest, new Platform("linux", "amd64")),
            Entry(Arm64Digest, new Platform("linux", "arm64", "v8")),
            Entry(WindowsDigest, new Platform("windows", "amd64", osVersion: "10.0.20348.2113", osFeatures: ["win32k"])),
            Entry(AttestationDigest, new Platform("unknown", "unknown")) with
            {
                Annotations = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, string>
                {
                    [Descriptor.ReferenceTypeAnnotation] = "attestation-manifest",
                    [Descriptor.ReferenceDigestAnnotation] = Amd64Digest,
                }),
            },
        };
        var index = ImageIndex.Create(MediaTypes.OciIndex, descriptors, new Dictionary<string, string>
        {
            ["org.opencontainers.image.title"] = "Demo",
            ["org.opencontainers.image.source"] = "https://example.com/demo?a=1&b=<x>",
        });
        return Index("127.0.0.1:5101/withatt:latest", Encoding.UTF8.GetString(index.Raw.Span), MediaTypes.OciIndex, children);

        Descriptor Entry(string digest, Platform platform) =>
            new(MediaTypes.OciManifest, Digest.Parse(digest), children[digest].Manifest.Size) { Platform = platform };
    }

    /// <summary>A Docker schema 2 Windows image with a foreign base layer and a config that sets every field we show.</summary>
    public static InspectResult DockerImage()
    {
        const string Config = """
            {"architecture":"amd64","os":"windows","os.version":"10.0.17763.5576","created":"2024-03-12T08:30:00.123456789Z",
             "config":{"User":"ContainerUser","WorkingDir":"C:\\app","Entrypoint":["dotnet","Demo.dll"],"Cmd":["--urls","http://+:8080"],
               "Env":["PATH=C:\\Windows\\system32;C:\\Windows","DOTNET_RUNNING_IN_CONTAINER=true"],
               "ExposedPorts":{"8080/tcp":{},"443/tcp":{}},
               "Labels":{"org.opencontainers.image.version":"1.0.0","com.example.team":"web \"blue\" & <green>"}},
             "rootfs":{"type":"layers","diff_ids":[]}}
            """;
        var configBytes = Encoding.UTF8.GetBytes(Config.ReplaceLineEndings("\n"));
        var foreign = Digest.FromContent("windows base"u8);
        var app = Digest.FromContent("app layer"u8);
        var manifest = $$"""
            {
               "schemaVersion": 2,
               "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
               "config": {
                  "mediaType": "application/vnd.docker.container.image.v1+json",
                  "size": {{Invariant(configBytes.Length)}},
                  "digest": "{{Digest.FromContent(configBytes)}}"
               },
               "layers": [
                  {
                     "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                     "size": 1708419821,
                     "digest": "{{foreign}}",
                     "urls": [
                        "https://mcr.microsoft.com/v2/windows/servercore/blobs/{{foreign}}"
                     ]
                  },
                  {
                     "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                     "size": 4521,
                     "digest": "{{app}}"
                  }
               ]
            }
            """;
        return new InspectResult("myteam/demo:1.0-windows", ImageReference.Parse("myteam/demo:1.0-windows"),
            ParseManifest(manifest, MediaTypes.DockerManifest), ImageConfig.Parse(configBytes, "config"), []);
    }

    /// <summary>An index whose second and third entries have no platform (manifest-tool panics on it).</summary>
    public static InspectResult NoPlatform()
    {
        var index = $$$"""
            {
              "schemaVersion": 2,
              "mediaType": "application/vnd.oci.image.index.v1+json",
              "manifests": [
                {"mediaType": "{{{MediaTypes.OciManifest}}}", "digest": "{{{Amd64Digest}}}", "size": 401, "platform": {"architecture": "amd64", "os": "linux"}},
                {"mediaType": "{{{MediaTypes.OciManifest}}}", "digest": "{{{Arm64Digest}}}", "size": 401},
                {"mediaType": "{{{MediaTypes.OciManifest}}}", "digest": "{{{ArmV7Digest}}}", "size": 401}
              ]
            }
            """;
        var children = new Dictionary<string, (ManifestContent, ImageConfig?)>
        {
            [Amd64Digest] = (Amd64Manifest, ParseConfig(LinuxConfigJson("amd64"))),
            [Arm64Digest] = (Arm64Manifest, ParseConfig(LinuxConfigJson("arm64", "v8"))),
            // The config could not be read: nothing to fall back on.
            [ArmV7Digest] = (ArmV7Manifest, null),
        };
        return Index("127.0.0.1:5101/demo:noplatidx", index, null, children);
    }

    /// <summary>An index whose second entry is itself an index (an image BuildKit pushed with an attestation).</summary>
    public static InspectResult NestedIndex()
    {
        var inner = ImageIndex.Create(MediaTypes.OciIndex,
        [
            new Descriptor(MediaTypes.OciManifest, Digest.Parse(Arm64Digest), 401) { Platform = new Platform("linux", "arm64", "v8") },
            new Descriptor(MediaTypes.OciManifest, Digest.Parse(WindowsDigest), 401)
            {
                Platform = new Platform("windows", "amd64", osVersion: "10.0.20348.2113", osFeatures: ["win32k"]),
            },
            new Descriptor(MediaTypes.OciManifest, Digest.Parse(AttestationDigest), 458)
            {
                Platform = new Platform("unknown", "unknown"),
                Annotations = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, string>
                {
                    [Descriptor.ReferenceTypeAnnotation] = "attestation-manifest",
                    [Descriptor.ReferenceDigestAnnotation] = Arm64Digest,
                }),
            },
        ]);
        var outer = ImageIndex.Create(MediaTypes.OciIndex,
        [
            new Descriptor(MediaTypes.OciManifest, Digest.Parse(Amd64Digest), 401) { Platform = new Platform("linux", "amd64") },
            inner.ToDescriptor(),
        ]);
        var children = new Dictionary<string, (ManifestContent, ImageConfig?)>
        {
            [Amd64Digest] = (Amd64Manifest, ParseConfig(LinuxConfigJson("amd64"))),
            [inner.Digest.ToString()] = (inner, null),
        };
        return Index("127.0.0.1:5101/demo:nested", Encoding.UTF8.GetString(outer.Raw.Span), null, children);
    }

    /// <summary>
    /// Entries that cannot be shown further: an artifact of a media type we do not know, an image manifest that was
    /// not fetched, and an attestation that does not name its subject.
    /// </summary>
    public static InspectResult Unavailable()
    {
        var artifact = Digest.FromContent("sbom artifact"u8);
        var index = $$$"""
            {
              "schemaVersion": 2,
              "mediaType": "application/vnd.oci.image.index.v1+json",
              "manifests": [
                {"mediaType": "{{{MediaTypes.OciManifest}}}", "digest": "{{{Amd64Digest}}}", "size": 401, "platform": {"architecture": "amd64", "os": "linux"}},
                {"mediaType": "application/vnd.cncf.oras.artifact.manifest.v1+json", "digest": "{{{artifact}}}", "size": 321, "artifactType": "application/spdx+json"},
                {"mediaType": "{{{MediaTypes.OciManifest}}}", "digest": "{{{Arm64Digest}}}", "size": 401, "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
                {"mediaType": "{{{MediaTypes.OciManifest}}}", "digest": "{{{AttestationDigest}}}", "size": 458, "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}
              ]
            }
            """;
        var children = new Dictionary<string, (ManifestContent, ImageConfig?)>
        {
            [Amd64Digest] = (Amd64Manifest, ParseConfig(LinuxConfigJson("amd64"))),
            [AttestationDigest] = (AttestationManifest, null),
        };
        return Index("127.0.0.1:5101/demo:odd", index, null, children);
    }

    /// <summary>Eleven images and an attestation, so the entry numbers reach two digits.</summary>
    public static InspectResult TwelveEntries()
    {
        string[] platforms =
        [
            "linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/arm/v6", "linux/386", "linux/ppc64le",
            "linux/s390x", "linux/riscv64", "linux/mips64le", "linux/loong64", "windows/amd64",
        ];
        var children = new List<InspectedChild>();
        foreach (var text in platforms)
        {
            var platform = Platform.Parse(text);
            if (platform.Os == "windows")
            {
                platform = platform with { OsVersion = "10.0.26100.2314" };
            }

            var configJson = platform.Os == "windows" ? WindowsConfigJson : LinuxConfigJson(platform.Architecture, platform.Variant);
            var layers = Enumerable.Range(1, platform.Architecture == "amd64" ? 11 : 1)
                .Select(n => CompactLayer(Digest.FromContent(Encoding.UTF8.GetBytes($"{text} layer {n}")).ToString(), 100 + n))
                .ToArray();
            var manifest = ParseManifest(CompactOciManifest(
                Digest.FromContent(Encoding.UTF8.GetBytes(configJson)).ToString(), configJson.Length, layers));
            children.Add(new InspectedChild(manifest.ToDescriptor() with { Platform = platform }, manifest, ParseConfig(configJson)));
        }

        var attestation = AttestationManifest;
        children.Add(new InspectedChild(
            attestation.ToDescriptor() with
            {
                Platform = new Platform("unknown", "unknown"),
                Annotations = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, string>
                {
                    [Descriptor.ReferenceTypeAnnotation] = "attestation-manifest",
                    [Descriptor.ReferenceDigestAnnotation] = children[0].Descriptor.Digest.ToString(),
                }),
            },
            attestation,
            null));
        var index = ImageIndex.Create(MediaTypes.OciIndex, [.. children.Select(c => c.Descriptor)]);
        return new InspectResult("127.0.0.1:5101/demo:many", ImageReference.Parse("127.0.0.1:5101/demo:many"), index, null, children);
    }

    /// <summary>An index of N images and M attestations whose children were not fetched (only the header matters).</summary>
    public static InspectResult Counted(int images, int attestations)
    {
        var descriptors = new List<Descriptor>();
        for (var i = 0; i < images + attestations; i++)
        {
            var descriptor = new Descriptor(MediaTypes.OciManifest, Digest.FromContent(Encoding.UTF8.GetBytes($"entry {i}")), 400 + i)
            {
                Platform = new Platform("linux", "amd64"),
            };
            if (i >= images)
            {
                descriptor = descriptor with
                {
                    Annotations = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, string>
                    {
                        [Descriptor.ReferenceTypeAnnotation] = "attestation-manifest",
                    }),
                };
            }

            descriptors.Add(descriptor);
        }

        var index = ImageIndex.Create(MediaTypes.OciIndex, descriptors);
        return new InspectResult("r:t", ImageReference.Parse("r:t"), index, null, [.. descriptors.Select(d => new InspectedChild(d, null, null))]);
    }

    /// <summary>Parses <paramref name="indexJson"/> and pairs every descriptor with its content from <paramref name="children"/>, if any.</summary>
    public static InspectResult Index(string name, string indexJson, string? contentType,
        IReadOnlyDictionary<string, (ManifestContent Manifest, ImageConfig? Config)> children)
    {
        var root = (ImageIndex)ManifestContent.Parse(Bytes(indexJson), contentType, name);
        var entries = root.Manifests
            .Select(d => children.TryGetValue(d.Digest.ToString(), out var content)
                ? new InspectedChild(d, content.Manifest, content.Config)
                : new InspectedChild(d, null, null))
            .ToList();
        return new InspectResult(name, ImageReference.Parse(name), root, null, entries);
    }

    public static ImageManifest ParseManifest(string json, string? contentType = null) =>
        (ImageManifest)ManifestContent.Parse(Bytes(json), contentType, "test manifest");

    public static ImageConfig ParseConfig(string json) => ImageConfig.Parse(Bytes(json), "test config");

    /// <summary>UTF-8 with "\n" line endings, whatever the checkout did to this file's line endings.</summary>
    public static byte[] Bytes(string json) => Encoding.UTF8.GetBytes(json.ReplaceLineEndings("\n"));

    private static string Invariant(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

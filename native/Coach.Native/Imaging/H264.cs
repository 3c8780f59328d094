using System.Runtime.InteropServices;
using System.Text;

namespace Coach.Native.Imaging;

/// <summary>
/// H.264 of interleaved 8-bit RGB frames through FFmpeg's libavcodec (libx264 to encode, FFmpeg's own h264 decoder) and
/// libswscale (RGB ↔ YUV 4:2:0), loaded at run time: the frame codec of a cloud-only plan that streams its frames as
/// H.264 (docs/protocol.md compression code 4, docs/baselines.md). Debian 12's packages: <c>libavcodec59</c> (FFmpeg 5.1,
/// built with libx264) and <c>libswscale6</c>.
/// </summary>
/// <remarks>
/// P/Invoke rather than an ffmpeg child process: one frame in gives one access unit out synchronously, in the edge's own
/// buffers, with no pipe round trip a frame and nothing allocated on the managed heap. Every codec setting goes through
/// avcodec_open2's option dictionary (AVOptions), so no AVCodecContext field is touched by offset. AVFrame and AVPacket
/// have no accessors: the few fields read or written here are at the offsets of FFmpeg 5.1's libavutil/frame.h and
/// libavcodec/packet.h, which hold for libavutil major 57 and libavcodec major 59; the versions are checked at load.
/// </remarks>
public static unsafe class H264
{
    /// <summary>The libraries' file names, as Debian 12's packages install them.</summary>
    public const string CodecLibrary = "libavcodec.so.59";
    public const string UtilLibrary = "libavutil.so.57";
    public const string ScaleLibrary = "libswscale.so.6";

    /// <summary>What to install when the libraries are missing.</summary>
    public const string Packages = "libavcodec59 libswscale6";

    // libavutil/frame.h (FFmpeg 5.1, libavutil 57): data[8] at 0, linesize[8] at 64, extended_data at 96, width 104,
    // height 108, nb_samples 112, format 116, key_frame 120, pict_type 124, sample_aspect_ratio 128, pts 136.
    internal const int FrameData = 0;
    internal const int FrameLinesize = 64;
    internal const int FrameWidth = 104;
    internal const int FrameHeight = 108;
    internal const int FrameFormat = 116;
    internal const int FrameKeyFrame = 120;
    internal const int FramePts = 136;

    // libavcodec/packet.h (FFmpeg 5.1, libavcodec 59): buf at 0, pts 8, dts 16, data 24, size 32, stream_index 36, flags 40.
    internal const int PacketData = 24;
    internal const int PacketSize = 32;
    internal const int PacketFlags = 40; // AV_PKT_FLAG_KEY = 1

    internal const int PixelFormatYuv420P = 0; // AV_PIX_FMT_YUV420P
    internal const int PixelFormatRgb24 = 2; // AV_PIX_FMT_RGB24
    internal const int ErrorAgain = -11; // AVERROR(EAGAIN) on Linux
    private const int LogFatal = 8; // AV_LOG_FATAL: the codecs' own complaints come back as return codes here
    private const int ScaleFlags = 0x2 | 0x2000 | 0x4000 | 0x40000; // SWS_BILINEAR | FULL_CHR_H_INT | FULL_CHR_H_INP | ACCURATE_RND

    private static readonly Lazy<Api> Functions = new(Api.Load);

    internal static Api Native => Functions.Value;

    /// <summary>Whether the libraries load here (and are the versions this binding was written against).</summary>
    public static bool IsAvailable
    {
        get
        {
            try
            {
                _ = Functions.Value;
                return true;
            }
            catch (DllNotFoundException)
            {
                return false;
            }
        }
    }

    /// <summary>Throws when the libraries are missing or of another major version, with what to install.</summary>
    public static void EnsureLoaded() => _ = Functions.Value;

    /// <summary>Frees an encoder's or decoder's codec context, frame, packet and scaler (each once; zeroed after).</summary>
    internal static void FreeCodecState(ref nint context, ref nint frame, ref nint packet, ref nint scaler)
    {
        if (!IsAvailable)
        {
            return;
        }

        Api api = Native;
        if (context != 0)
        {
            nint owned = context;
            context = 0;
            api.FreeContext(&owned);
        }

        if (frame != 0)
        {
            nint owned = frame;
            frame = 0;
            api.FrameFree(&owned);
        }

        if (packet != 0)
        {
            nint owned = packet;
            packet = 0;
            api.PacketFree(&owned);
        }

        if (scaler != 0)
        {
            api.SwsFreeContext(scaler);
            scaler = 0;
        }
    }

    internal static string ErrorText(int code)
    {
        byte* text = stackalloc byte[128];
        return Native.StrError(code, text, 128) == 0 ? $"{Marshal.PtrToStringUTF8((nint)text)} ({code})" : $"error {code}";
    }

    /// <summary>Opens a codec context with <paramref name="options"/> (AVOptions of the context and of the codec's private
    /// class); an option the codec does not know is an error, not ignored.</summary>
    internal static nint Open(nint codec, string what, params (string Key, string Value)[] options)
    {
        Api api = Native;
        nint context = api.AllocContext(codec);
        if (context == 0)
        {
            throw new InvalidOperationException($"libavcodec could not allocate a {what} context");
        }

        nint dictionary = 0;
        try
        {
            foreach ((string key, string value) in options)
            {
                int rc = SetOption(api, &dictionary, key, value);
                if (rc < 0)
                {
                    throw new InvalidOperationException($"libavutil could not hold option {key}={value}: {ErrorText(rc)}");
                }
            }

            int open = api.Open2(context, codec, &dictionary);
            if (open < 0)
            {
                throw new InvalidOperationException($"libavcodec could not open the {what}: {ErrorText(open)}");
            }

            if (api.DictCount(dictionary) != 0)
            {
                nint entry = api.DictGet(dictionary, "", 0, 2); // AV_DICT_IGNORE_SUFFIX: the first left
                string name = entry == 0 ? "?" : Marshal.PtrToStringUTF8(*(nint*)entry) ?? "?";
                throw new InvalidOperationException($"the {what} does not know option '{name}' (FFmpeg 5.1 with libx264 is expected)");
            }

            nint opened = context;
            context = 0;
            return opened;
        }
        finally
        {
            api.DictFree(&dictionary);
            if (context != 0)
            {
                api.FreeContext(&context);
            }
        }
    }

    /// <summary>An AVFrame with its own YUV 4:2:0 planes of <paramref name="width"/>×<paramref name="height"/>.</summary>
    internal static nint AllocYuvFrame(int width, int height)
    {
        Api api = Native;
        nint frame = api.FrameAlloc();
        if (frame == 0)
        {
            throw new InvalidOperationException("libavutil could not allocate a frame");
        }

        *(int*)(frame + FrameWidth) = width;
        *(int*)(frame + FrameHeight) = height;
        *(int*)(frame + FrameFormat) = PixelFormatYuv420P;
        int rc = api.FrameGetBuffer(frame, 0);
        if (rc < 0)
        {
            api.FrameFree(&frame);
            throw new InvalidOperationException($"libavutil could not allocate a {width}×{height} YUV frame: {ErrorText(rc)}");
        }

        return frame;
    }

    internal static nint ScalerFor(int width, int height, bool toYuv)
    {
        nint scaler = toYuv
            ? Native.SwsGetContext(width, height, PixelFormatRgb24, width, height, PixelFormatYuv420P, ScaleFlags, 0, 0, 0)
            : Native.SwsGetContext(width, height, PixelFormatYuv420P, width, height, PixelFormatRgb24, ScaleFlags, 0, 0, 0);
        return scaler != 0 ? scaler : throw new InvalidOperationException($"libswscale cannot convert {width}×{height} RGB ↔ YUV 4:2:0");
    }

    /// <summary>RGB24 (H×W×3) into a YUV 4:2:0 frame's planes, or back.</summary>
    internal static void Convert(nint scaler, nint frame, byte* rgb, int width, int height, bool toYuv)
    {
        byte** rgbPlanes = stackalloc byte*[4];
        int* rgbStrides = stackalloc int[4];
        rgbPlanes[0] = rgb;
        rgbStrides[0] = width * 3;
        byte** yuvPlanes = (byte**)(frame + FrameData);
        int* yuvStrides = (int*)(frame + FrameLinesize);
        int rows = toYuv
            ? Native.SwsScale(scaler, rgbPlanes, rgbStrides, 0, height, yuvPlanes, yuvStrides)
            : Native.SwsScale(scaler, yuvPlanes, yuvStrides, 0, height, rgbPlanes, rgbStrides);
        if (rows != height)
        {
            throw new InvalidOperationException($"libswscale converted {rows} of {height} rows");
        }
    }

    private static int SetOption(Api api, nint* dictionary, string key, string value)
    {
        // Options are set at open only (not per frame): a short-lived copy is fine here.
        nint first = Marshal.StringToCoTaskMemUTF8(key);
        nint second = Marshal.StringToCoTaskMemUTF8(value);
        try
        {
            return api.DictSet(dictionary, first, second, 0);
        }
        finally
        {
            Marshal.FreeCoTaskMem(first);
            Marshal.FreeCoTaskMem(second);
        }
    }

    /// <summary>The entry points, resolved once. Function pointers rather than [LibraryImport], so that a missing library is
    /// one clear error here and NativeAOT binaries still start on machines without it.</summary>
    internal sealed class Api
    {
        public delegate* unmanaged<nint, nint> FindEncoderByName;
        public delegate* unmanaged<nint, nint> FindDecoderByName;
        public delegate* unmanaged<nint, nint> AllocContext;
        public delegate* unmanaged<nint*, void> FreeContext;
        public delegate* unmanaged<nint, nint, nint*, int> Open2;
        public delegate* unmanaged<nint, nint, int> SendFrame;
        public delegate* unmanaged<nint, nint, int> ReceivePacket;
        public delegate* unmanaged<nint, nint, int> SendPacket;
        public delegate* unmanaged<nint, nint, int> ReceiveFrame;
        public delegate* unmanaged<nint> PacketAlloc;
        public delegate* unmanaged<nint*, void> PacketFree;
        public delegate* unmanaged<nint, void> PacketUnref;
        public delegate* unmanaged<nint> FrameAlloc;
        public delegate* unmanaged<nint*, void> FrameFree;
        public delegate* unmanaged<nint, void> FrameUnref;
        public delegate* unmanaged<nint, int, int> FrameGetBuffer;
        public delegate* unmanaged<nint, int> FrameMakeWritable;
        public delegate* unmanaged<nint*, nint, nint, int, int> DictSet;
        public delegate* unmanaged<nint, int> DictCount;
        public delegate* unmanaged<nint, nint, nint, int, nint> DictGetRaw;
        public delegate* unmanaged<nint*, void> DictFree;
        public delegate* unmanaged<int, byte*, nuint, int> StrError;
        public delegate* unmanaged<int, int, int, int, int, int, int, nint, nint, nint, nint> SwsGetContext;
        public delegate* unmanaged<nint, byte**, int*, int, int, byte**, int*, int> SwsScale;
        public delegate* unmanaged<nint, void> SwsFreeContext;

        public nint DictGet(nint dictionary, string key, nint previous, int flags)
        {
            nint text = Marshal.StringToCoTaskMemUTF8(key);
            try
            {
                return DictGetRaw(dictionary, text, previous, flags);
            }
            finally
            {
                Marshal.FreeCoTaskMem(text);
            }
        }

        public static Api Load()
        {
            string missing = "";
            if (!NativeLibrary.TryLoad(UtilLibrary, out nint util))
            {
                missing = UtilLibrary;
            }

            if (!NativeLibrary.TryLoad(CodecLibrary, out nint codec))
            {
                missing += (missing.Length > 0 ? ", " : "") + CodecLibrary;
            }

            if (!NativeLibrary.TryLoad(ScaleLibrary, out nint scale))
            {
                missing += (missing.Length > 0 ? ", " : "") + ScaleLibrary;
            }

            if (missing.Length > 0)
            {
                throw new DllNotFoundException(
                    $"{missing} (FFmpeg 5.1) not installed; H.264 frames (the cloud-h264 method) need libavcodec with libx264 and " +
                    $"libswscale: sudo apt-get install -y {Packages} (Debian 12; ./coach setup installs them)");
            }

            // The AVFrame/AVPacket offsets above are FFmpeg 5.1's; another major version may move them.
            uint codecVersion = ((delegate* unmanaged<uint>)NativeLibrary.GetExport(codec, "avcodec_version"))();
            uint utilVersion = ((delegate* unmanaged<uint>)NativeLibrary.GetExport(util, "avutil_version"))();
            if (codecVersion >> 16 != 59 || utilVersion >> 16 != 57)
            {
                throw new DllNotFoundException(
                    $"{CodecLibrary} reports libavcodec {codecVersion >> 16}.{(codecVersion >> 8) & 0xff} and libavutil " +
                    $"{utilVersion >> 16}.{(utilVersion >> 8) & 0xff}; the H.264 binding reads FFmpeg 5.1's frame and packet layout " +
                    $"(libavcodec 59, libavutil 57): install {Packages} (Debian 12)");
            }

            ((delegate* unmanaged<int, void>)NativeLibrary.GetExport(util, "av_log_set_level"))(LogFatal);
            var api = new Api
            {
                FindEncoderByName = (delegate* unmanaged<nint, nint>)NativeLibrary.GetExport(codec, "avcodec_find_encoder_by_name"),
                FindDecoderByName = (delegate* unmanaged<nint, nint>)NativeLibrary.GetExport(codec, "avcodec_find_decoder_by_name"),
                AllocContext = (delegate* unmanaged<nint, nint>)NativeLibrary.GetExport(codec, "avcodec_alloc_context3"),
                FreeContext = (delegate* unmanaged<nint*, void>)NativeLibrary.GetExport(codec, "avcodec_free_context"),
                Open2 = (delegate* unmanaged<nint, nint, nint*, int>)NativeLibrary.GetExport(codec, "avcodec_open2"),
                SendFrame = (delegate* unmanaged<nint, nint, int>)NativeLibrary.GetExport(codec, "avcodec_send_frame"),
                ReceivePacket = (delegate* unmanaged<nint, nint, int>)NativeLibrary.GetExport(codec, "avcodec_receive_packet"),
                SendPacket = (delegate* unmanaged<nint, nint, int>)NativeLibrary.GetExport(codec, "avcodec_send_packet"),
                ReceiveFrame = (delegate* unmanaged<nint, nint, int>)NativeLibrary.GetExport(codec, "avcodec_receive_frame"),
                PacketAlloc = (delegate* unmanaged<nint>)NativeLibrary.GetExport(codec, "av_packet_alloc"),
                PacketFree = (delegate* unmanaged<nint*, void>)NativeLibrary.GetExport(codec, "av_packet_free"),
                PacketUnref = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(codec, "av_packet_unref"),
                FrameAlloc = (delegate* unmanaged<nint>)NativeLibrary.GetExport(util, "av_frame_alloc"),
                FrameFree = (delegate* unmanaged<nint*, void>)NativeLibrary.GetExport(util, "av_frame_free"),
                FrameUnref = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(util, "av_frame_unref"),
                FrameGetBuffer = (delegate* unmanaged<nint, int, int>)NativeLibrary.GetExport(util, "av_frame_get_buffer"),
                FrameMakeWritable = (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(util, "av_frame_make_writable"),
                DictSet = (delegate* unmanaged<nint*, nint, nint, int, int>)NativeLibrary.GetExport(util, "av_dict_set"),
                DictCount = (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(util, "av_dict_count"),
                DictGetRaw = (delegate* unmanaged<nint, nint, nint, int, nint>)NativeLibrary.GetExport(util, "av_dict_get"),
                DictFree = (delegate* unmanaged<nint*, void>)NativeLibrary.GetExport(util, "av_dict_free"),
                StrError = (delegate* unmanaged<int, byte*, nuint, int>)NativeLibrary.GetExport(util, "av_strerror"),
                SwsGetContext = (delegate* unmanaged<int, int, int, int, int, int, int, nint, nint, nint, nint>)NativeLibrary.GetExport(scale, "sws_getContext"),
                SwsScale = (delegate* unmanaged<nint, byte**, int*, int, int, byte**, int*, int>)NativeLibrary.GetExport(scale, "sws_scale"),
                SwsFreeContext = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(scale, "sws_freeContext"),
            };
            return api;
        }

        public nint FindEncoder(string name) => FindByName(FindEncoderByName, name);

        public nint FindDecoder(string name) => FindByName(FindDecoderByName, name);

        private static nint FindByName(delegate* unmanaged<nint, nint> find, string name)
        {
            byte[] text = Encoding.UTF8.GetBytes(name + "\0");
            fixed (byte* p = text)
            {
                return find((nint)p);
            }
        }
    }
}

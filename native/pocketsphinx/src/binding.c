/*
 * N-API binding for the CMU pocketsphinx decoder (Debian's 5prealpha library).
 *
 * One JS `Decoder` object owns one ps_decoder_t. A decoder is loaded once and reused for many
 * utterances (start/process/end), and its grammar can be swapped between utterances, so callers
 * never spawn a process per utterance. Audio processing and end-of-utterance can run on the libuv
 * thread pool (the *Async methods) so a busy decoder never blocks the event loop; one decoder
 * handles one operation at a time (pocketsphinx is not thread-safe per decoder), which the binding
 * enforces with a busy flag and the TypeScript side respects by queueing.
 *
 * Library logging is captured through sphinxbase's error callback: the last ERROR line of the
 * current thread becomes the message of the thrown JS error instead of noise on stderr. Set
 * XIAOZHI_SPHINX_LOG=1 to also echo everything the library says to stderr.
 */
#include <node_api.h>
#include <pocketsphinx.h>
#include <sphinxbase/cmd_ln.h>
#include <sphinxbase/err.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ERROR_CHARS 512
#define MAX_STRING_ARG_CHARS (4 * 1024 * 1024)

/* Per-thread because async operations run on pool threads; each keeps its own last error. */
static __thread char last_error[MAX_ERROR_CHARS];
static int echo_log_to_stderr = 0;

static void capture_log(void *user_data, err_lvl_t level, const char *fmt, ...) {
  va_list args;
  (void)user_data;
  if (echo_log_to_stderr) {
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
  }
  if (level >= ERR_ERROR) {
    va_start(args, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, args);
    va_end(args);
    size_t len = strlen(last_error);
    while (len > 0 && (last_error[len - 1] == '\n' || last_error[len - 1] == '\r')) last_error[--len] = '\0';
  }
}

typedef struct {
  ps_decoder_t *ps;
  int busy;         /* an async operation owns the decoder */
  int in_utterance; /* between startUtterance and endUtterance */
  int has_search;   /* a grammar or keyphrase was set */
  int free_pending; /* free() was called while busy: free when the operation completes */
  unsigned search_seq;
  char search_name[32];
} decoder_t;

enum op_kind { OP_PROCESS, OP_END };

typedef struct {
  decoder_t *decoder;
  enum op_kind kind;
  int16 *samples;
  size_t sample_count;
  int rv;
  char *hyp;
  int32 score;
  int frames;
  char error[MAX_ERROR_CHARS];
  napi_ref self_ref;
  napi_deferred deferred;
  napi_async_work work;
} op_t;

/* ---------------------------------------------------------------------------------------------
 * helpers
 * ------------------------------------------------------------------------------------------- */

#define CALL(env, expr)                                                                            \
  do {                                                                                             \
    if ((expr) != napi_ok) {                                                                       \
      throw_pending_or(env, "ERR_NAPI", #expr);                                                    \
      return NULL;                                                                                 \
    }                                                                                              \
  } while (0)

static void throw_pending_or(napi_env env, const char *code, const char *msg) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, code, msg);
}

static void throw_with_last_error(napi_env env, const char *code, const char *what) {
  char msg[MAX_ERROR_CHARS + 128];
  if (last_error[0])
    snprintf(msg, sizeof msg, "%s: %s", what, last_error);
  else
    snprintf(msg, sizeof msg, "%s", what);
  napi_throw_error(env, code, msg);
}

/* Copies a JS string argument into a malloc'd buffer; NULL (with a pending exception) on error. */
static char *get_string(napi_env env, napi_value value, const char *name) {
  napi_valuetype type;
  size_t len = 0;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_string) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a string", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG", msg);
    return NULL;
  }
  napi_get_value_string_utf8(env, value, NULL, 0, &len);
  if (len > MAX_STRING_ARG_CHARS) {
    napi_throw_range_error(env, "ERR_INVALID_ARG", "string argument too long");
    return NULL;
  }
  char *buf = malloc(len + 1);
  if (!buf) {
    napi_throw_error(env, "ERR_NO_MEMORY", "out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, value, buf, len + 1, &len);
  return buf;
}

static char *get_string_property(napi_env env, napi_value obj, const char *key, int required) {
  bool has = false;
  napi_value value;
  napi_valuetype type;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok) return NULL;
  if (has) {
    napi_get_named_property(env, obj, key, &value);
    napi_typeof(env, value, &type);
    if (type != napi_undefined) return get_string(env, value, key);
  }
  if (required) {
    char msg[128];
    snprintf(msg, sizeof msg, "options.%s is required", key);
    napi_throw_type_error(env, "ERR_INVALID_ARG", msg);
  }
  return NULL;
}

static decoder_t *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, napi_value *self) {
  napi_value this_arg;
  decoder_t *d = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &this_arg, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, this_arg, (void **)&d) != napi_ok || !d) {
    napi_throw_type_error(env, "ERR_INVALID_THIS", "not a Decoder");
    return NULL;
  }
  if (self) *self = this_arg;
  return d;
}

/* Rejects use of a freed or busy decoder with a clear error (returns 0 after throwing). */
static int check_ready(napi_env env, decoder_t *d) {
  if (!d->ps || d->free_pending) {
    napi_throw_error(env, "ERR_FREED", "decoder was freed");
    return 0;
  }
  if (d->busy) {
    napi_throw_error(env, "ERR_BUSY", "decoder is busy with an asynchronous operation");
    return 0;
  }
  return 1;
}

static napi_value make_result(napi_env env, const char *hyp, int32 score, int frames) {
  napi_value result, text, score_v, frames_v;
  if (napi_create_object(env, &result) != napi_ok) return NULL;
  napi_create_string_utf8(env, hyp ? hyp : "", NAPI_AUTO_LENGTH, &text);
  napi_create_int32(env, score, &score_v);
  napi_create_int32(env, frames, &frames_v);
  napi_set_named_property(env, result, "text", text);
  napi_set_named_property(env, result, "score", score_v);
  napi_set_named_property(env, result, "frames", frames_v);
  return result;
}

static void free_decoder_now(decoder_t *d) {
  if (d->ps) {
    ps_free(d->ps);
    d->ps = NULL;
  }
}

static void finalize_decoder(napi_env env, void *data, void *hint) {
  decoder_t *d = data;
  (void)env;
  (void)hint;
  /* An async operation holds a strong reference to the JS object, so a decoder is never
   * finalized while busy. */
  free_decoder_now(d);
  free(d);
}

/* Reads an Int16Array argument (pointer into JS memory, valid only during this call). */
static int get_samples(napi_env env, napi_value value, int16 **samples, size_t *count) {
  bool is_typed = false;
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_value arraybuffer;
  size_t byte_offset;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "pcm must be an Int16Array");
    return 0;
  }
  napi_get_typedarray_info(env, value, &type, &length, &data, &arraybuffer, &byte_offset);
  if (type != napi_int16_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "pcm must be an Int16Array");
    return 0;
  }
  *samples = data;
  *count = length;
  return 1;
}

/* ---------------------------------------------------------------------------------------------
 * constructor: new Decoder({ hmm, dict, sampleRateHz?, args?: string[] })
 * ------------------------------------------------------------------------------------------- */

/* Overrides one setting of an existing config. cmd_ln_init copies the strings and keeps them with
 * the config; strict mode would reject the name as a duplicate of its filled-in default, so the
 * name is checked against the definitions here instead. */
static int override_config(cmd_ln_t *config, const char *name, const char *value) {
  const arg_t *defs = ps_args();
  int known = 0;
  for (int i = 0; defs[i].name; i++)
    if (strcmp(defs[i].name, name) == 0) known = 1;
  if (!known) {
    snprintf(last_error, sizeof last_error, "unknown decoder argument %s", name);
    return 0;
  }
  return cmd_ln_init(config, ps_args(), FALSE, name, value, NULL) != NULL;
}

static napi_value decoder_new(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], this_arg, target;
  napi_valuetype type;
  char *hmm = NULL, *dict = NULL;
  cmd_ln_t *config = NULL;
  decoder_t *d = NULL;
  double sample_rate_hz = 16000;
  char rate_text[32];

  CALL(env, napi_get_new_target(env, info, &target));
  if (!target) {
    napi_throw_type_error(env, "ERR_CONSTRUCT", "Decoder must be called with new");
    return NULL;
  }
  CALL(env, napi_get_cb_info(env, info, &argc, argv, &this_arg, NULL));
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_object) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "options object required");
    return NULL;
  }
  last_error[0] = '\0';
  hmm = get_string_property(env, argv[0], "hmm", 1);
  if (!hmm) goto fail;
  dict = get_string_property(env, argv[0], "dict", 1);
  if (!dict) goto fail;

  {
    bool has = false;
    napi_value v;
    napi_has_named_property(env, argv[0], "sampleRateHz", &has);
    if (has) {
      napi_get_named_property(env, argv[0], "sampleRateHz", &v);
      napi_typeof(env, v, &type);
      if (type == napi_number) napi_get_value_double(env, v, &sample_rate_hz);
    }
  }
  snprintf(rate_text, sizeof rate_text, "%.0f", sample_rate_hz);

  config = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", hmm, "-dict", dict, "-samprate", rate_text, NULL);
  if (!config) {
    throw_with_last_error(env, "ERR_CONFIG", "invalid decoder configuration");
    goto fail;
  }

  /* Extra flag/value pairs ("-beam", "1e-60", ...) for tuning without rebuilding the addon. */
  {
    bool has = false, is_array = false;
    napi_value args;
    uint32_t n = 0;
    napi_has_named_property(env, argv[0], "args", &has);
    if (has) {
      napi_get_named_property(env, argv[0], "args", &args);
      napi_is_array(env, args, &is_array);
      if (is_array) {
        napi_get_array_length(env, args, &n);
        if (n % 2 != 0) {
          napi_throw_type_error(env, "ERR_INVALID_ARG", "options.args must hold flag/value pairs");
          goto fail;
        }
        for (uint32_t i = 0; i < n; i += 2) {
          napi_value name_v, value_v;
          napi_get_element(env, args, i, &name_v);
          napi_get_element(env, args, i + 1, &value_v);
          char *name = get_string(env, name_v, "args[i]");
          if (!name) goto fail;
          char *value = get_string(env, value_v, "args[i+1]");
          if (!value) {
            free(name);
            goto fail;
          }
          int ok = override_config(config, name, value);
          free(name);
          free(value);
          if (!ok) {
            throw_with_last_error(env, "ERR_CONFIG", "invalid decoder argument");
            goto fail;
          }
        }
      }
    }
  }

  d = calloc(1, sizeof *d);
  if (!d) {
    napi_throw_error(env, "ERR_NO_MEMORY", "out of memory");
    goto fail;
  }
  d->ps = ps_init(config);
  if (!d->ps) {
    throw_with_last_error(env, "ERR_INIT", "pocketsphinx could not load the model");
    goto fail;
  }
  cmd_ln_free_r(config); /* ps_init keeps its own reference */
  config = NULL;
  free(hmm);
  free(dict);
  if (napi_wrap(env, this_arg, d, finalize_decoder, NULL, NULL) != napi_ok) {
    free_decoder_now(d);
    free(d);
    throw_pending_or(env, "ERR_NAPI", "napi_wrap failed");
    return NULL;
  }
  return this_arg;

fail:
  if (d) {
    free_decoder_now(d);
    free(d);
  }
  if (config) cmd_ln_free_r(config);
  free(hmm);
  free(dict);
  return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * grammar
 * ------------------------------------------------------------------------------------------- */

/* Activates the search just added under `name` and drops the previous one. A fresh name per
 * grammar avoids replacing the active search in place (the 5prealpha library frees the old
 * search while the decoder still points at it until the next ps_set_search). */
static int activate_search(decoder_t *d, const char *name) {
  if (ps_set_search(d->ps, name) < 0) return 0;
  if (d->has_search && strcmp(d->search_name, name) != 0) ps_unset_search(d->ps, d->search_name);
  snprintf(d->search_name, sizeof d->search_name, "%s", name);
  d->has_search = 1;
  return 1;
}

static napi_value set_search_common(napi_env env, napi_callback_info info, int is_jsgf) {
  size_t argc = 1;
  napi_value argv[1];
  decoder_t *d = unwrap(env, info, &argc, argv, NULL);
  char name[32];
  if (!d || !check_ready(env, d)) return NULL;
  if (d->in_utterance) {
    napi_throw_error(env, "ERR_STATE", "cannot change the grammar during an utterance");
    return NULL;
  }
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "grammar text required");
    return NULL;
  }
  char *text = get_string(env, argv[0], is_jsgf ? "jsgf" : "keyphrase");
  if (!text) return NULL;
  snprintf(name, sizeof name, "search%u", ++d->search_seq);
  last_error[0] = '\0';
  int rv = is_jsgf ? ps_set_jsgf_string(d->ps, name, text) : ps_set_keyphrase(d->ps, name, text);
  free(text);
  if (rv < 0) {
    throw_with_last_error(env, "ERR_GRAMMAR", is_jsgf ? "grammar rejected" : "keyphrase rejected");
    return NULL;
  }
  if (!activate_search(d, name)) {
    throw_with_last_error(env, "ERR_GRAMMAR", "could not activate the grammar");
    return NULL;
  }
  return NULL;
}

static napi_value decoder_set_jsgf(napi_env env, napi_callback_info info) {
  return set_search_common(env, info, 1);
}

static napi_value decoder_set_keyphrase(napi_env env, napi_callback_info info) {
  return set_search_common(env, info, 0);
}

/* addWord(word, phones): adds or replaces a pronunciation (e.g. a word the dictionary lacks). */
static napi_value decoder_add_word(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  decoder_t *d = unwrap(env, info, &argc, argv, NULL);
  if (!d || !check_ready(env, d)) return NULL;
  if (d->in_utterance) {
    napi_throw_error(env, "ERR_STATE", "cannot add words during an utterance");
    return NULL;
  }
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "word and phones required");
    return NULL;
  }
  char *word = get_string(env, argv[0], "word");
  if (!word) return NULL;
  char *phones = get_string(env, argv[1], "phones");
  if (!phones) {
    free(word);
    return NULL;
  }
  last_error[0] = '\0';
  /* update=TRUE rebuilds the active search so the word is usable at once. */
  int rv = ps_add_word(d->ps, word, phones, d->has_search ? TRUE : FALSE);
  free(word);
  free(phones);
  if (rv < 0) {
    throw_with_last_error(env, "ERR_WORD", "word rejected");
    return NULL;
  }
  CALL(env, napi_get_boolean(env, true, &result));
  return result;
}

/* lookupWord(word): the pronunciation the dictionary holds, or null. */
static napi_value decoder_lookup_word(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  decoder_t *d = unwrap(env, info, &argc, argv, NULL);
  if (!d || !check_ready(env, d)) return NULL;
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "word required");
    return NULL;
  }
  char *word = get_string(env, argv[0], "word");
  if (!word) return NULL;
  char *phones = ps_lookup_word(d->ps, word);
  free(word);
  if (!phones) {
    CALL(env, napi_get_null(env, &result));
    return result;
  }
  napi_create_string_utf8(env, phones, NAPI_AUTO_LENGTH, &result);
  free(phones); /* allocated by sphinxbase's ckd_calloc, which is plain calloc */
  return result;
}

/* ---------------------------------------------------------------------------------------------
 * utterances (synchronous)
 * ------------------------------------------------------------------------------------------- */

static napi_value decoder_start_utterance(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  decoder_t *d = unwrap(env, info, &argc, NULL, NULL);
  if (!d || !check_ready(env, d)) return NULL;
  if (!d->has_search) {
    napi_throw_error(env, "ERR_STATE", "set a grammar before starting an utterance");
    return NULL;
  }
  if (d->in_utterance) {
    /* A previous utterance was abandoned (aborted caller): close it before starting over. */
    ps_end_utt(d->ps);
    d->in_utterance = 0;
  }
  last_error[0] = '\0';
  if (ps_start_utt(d->ps) < 0) {
    throw_with_last_error(env, "ERR_DECODE", "could not start an utterance");
    return NULL;
  }
  d->in_utterance = 1;
  return NULL;
}

static napi_value decoder_process_raw(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  int16 *samples;
  size_t count;
  decoder_t *d = unwrap(env, info, &argc, argv, NULL);
  if (!d || !check_ready(env, d)) return NULL;
  if (!d->in_utterance) {
    napi_throw_error(env, "ERR_STATE", "no utterance started");
    return NULL;
  }
  if (argc < 1 || !get_samples(env, argv[0], &samples, &count)) return NULL;
  last_error[0] = '\0';
  int frames = ps_process_raw(d->ps, samples, count, FALSE, FALSE);
  if (frames < 0) {
    throw_with_last_error(env, "ERR_DECODE", "could not process audio");
    return NULL;
  }
  CALL(env, napi_create_int32(env, frames, &result));
  return result;
}

/* partial(): the best hypothesis so far in the current utterance. */
static napi_value decoder_partial(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  int32 score = 0;
  decoder_t *d = unwrap(env, info, &argc, NULL, NULL);
  if (!d || !check_ready(env, d)) return NULL;
  if (!d->in_utterance) {
    napi_throw_error(env, "ERR_STATE", "no utterance started");
    return NULL;
  }
  const char *hyp = ps_get_hyp(d->ps, &score);
  return make_result(env, hyp, score, ps_get_n_frames(d->ps));
}

static napi_value decoder_end_utterance(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  int32 score = 0;
  decoder_t *d = unwrap(env, info, &argc, NULL, NULL);
  if (!d || !check_ready(env, d)) return NULL;
  if (!d->in_utterance) {
    napi_throw_error(env, "ERR_STATE", "no utterance started");
    return NULL;
  }
  last_error[0] = '\0';
  d->in_utterance = 0;
  if (ps_end_utt(d->ps) < 0) {
    throw_with_last_error(env, "ERR_DECODE", "could not end the utterance");
    return NULL;
  }
  const char *hyp = ps_get_hyp(d->ps, &score);
  return make_result(env, hyp, score, ps_get_n_frames(d->ps));
}

/* ---------------------------------------------------------------------------------------------
 * utterances (asynchronous, on the libuv thread pool)
 * ------------------------------------------------------------------------------------------- */

static void op_execute(napi_env env, void *data) {
  op_t *op = data;
  ps_decoder_t *ps = op->decoder->ps;
  (void)env;
  last_error[0] = '\0';
  if (op->kind == OP_PROCESS) {
    op->rv = ps_process_raw(ps, op->samples, op->sample_count, FALSE, FALSE);
  } else {
    op->rv = ps_end_utt(ps);
    if (op->rv >= 0) {
      const char *hyp = ps_get_hyp(ps, &op->score);
      op->hyp = strdup(hyp ? hyp : "");
      op->frames = ps_get_n_frames(ps);
    }
  }
  if (op->rv < 0) snprintf(op->error, sizeof op->error, "%s", last_error[0] ? last_error : "decoder error");
}

static void op_complete(napi_env env, napi_status status, void *data) {
  op_t *op = data;
  decoder_t *d = op->decoder;
  napi_value value = NULL, err = NULL, code = NULL, msg = NULL;
  d->busy = 0;
  if (status != napi_ok || op->rv < 0) {
    const char *text = status != napi_ok ? "operation cancelled" : op->error;
    napi_create_string_utf8(env, "ERR_DECODE", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &err);
    napi_reject_deferred(env, op->deferred, err);
  } else {
    if (op->kind == OP_PROCESS)
      napi_create_int32(env, op->rv, &value);
    else
      value = make_result(env, op->hyp, op->score, op->frames);
    napi_resolve_deferred(env, op->deferred, value);
  }
  if (d->free_pending) free_decoder_now(d);
  napi_delete_async_work(env, op->work);
  napi_delete_reference(env, op->self_ref);
  free(op->samples);
  free(op->hyp);
  free(op);
}

static napi_value queue_op(napi_env env, decoder_t *d, napi_value self, op_t *op, const char *label) {
  napi_value promise, resource_name;
  op->decoder = d;
  CALL(env, napi_create_promise(env, &op->deferred, &promise));
  CALL(env, napi_create_reference(env, self, 1, &op->self_ref));
  CALL(env, napi_create_string_utf8(env, label, NAPI_AUTO_LENGTH, &resource_name));
  CALL(env, napi_create_async_work(env, NULL, resource_name, op_execute, op_complete, op, &op->work));
  CALL(env, napi_queue_async_work(env, op->work));
  d->busy = 1;
  return promise;
}

/* processRawAsync(pcm): copies the samples, decodes them off the main thread. */
static napi_value decoder_process_raw_async(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  int16 *samples;
  size_t count;
  decoder_t *d = unwrap(env, info, &argc, argv, &self);
  if (!d || !check_ready(env, d)) return NULL;
  if (!d->in_utterance) {
    napi_throw_error(env, "ERR_STATE", "no utterance started");
    return NULL;
  }
  if (argc < 1 || !get_samples(env, argv[0], &samples, &count)) return NULL;
  op_t *op = calloc(1, sizeof *op);
  if (!op) {
    napi_throw_error(env, "ERR_NO_MEMORY", "out of memory");
    return NULL;
  }
  op->kind = OP_PROCESS;
  op->sample_count = count;
  op->samples = malloc(count ? count * sizeof(int16) : 1);
  if (!op->samples) {
    free(op);
    napi_throw_error(env, "ERR_NO_MEMORY", "out of memory");
    return NULL;
  }
  if (count) memcpy(op->samples, samples, count * sizeof(int16));
  return queue_op(env, d, self, op, "pocketsphinx.processRaw");
}

static napi_value decoder_end_utterance_async(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value self;
  decoder_t *d = unwrap(env, info, &argc, NULL, &self);
  if (!d || !check_ready(env, d)) return NULL;
  if (!d->in_utterance) {
    napi_throw_error(env, "ERR_STATE", "no utterance started");
    return NULL;
  }
  op_t *op = calloc(1, sizeof *op);
  if (!op) {
    napi_throw_error(env, "ERR_NO_MEMORY", "out of memory");
    return NULL;
  }
  op->kind = OP_END;
  d->in_utterance = 0;
  return queue_op(env, d, self, op, "pocketsphinx.endUtterance");
}

/* ---------------------------------------------------------------------------------------------
 * lifetime and state
 * ------------------------------------------------------------------------------------------- */

static napi_value decoder_free(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  decoder_t *d = unwrap(env, info, &argc, NULL, NULL);
  if (!d) return NULL;
  if (d->busy)
    d->free_pending = 1;
  else
    free_decoder_now(d);
  d->in_utterance = 0;
  return NULL;
}

static napi_value decoder_get_busy(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value result;
  decoder_t *d = unwrap(env, info, &argc, NULL, NULL);
  if (!d) return NULL;
  napi_get_boolean(env, d->busy != 0, &result);
  return result;
}

static napi_value decoder_get_freed(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value result;
  decoder_t *d = unwrap(env, info, &argc, NULL, NULL);
  if (!d) return NULL;
  napi_get_boolean(env, d->ps == NULL || d->free_pending, &result);
  return result;
}

static napi_value decoder_get_in_utterance(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value result;
  decoder_t *d = unwrap(env, info, &argc, NULL, NULL);
  if (!d) return NULL;
  napi_get_boolean(env, d->in_utterance != 0, &result);
  return result;
}

static napi_value set_log_to_stderr(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool on = false;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 1) napi_get_value_bool(env, argv[0], &on);
  echo_log_to_stderr = on ? 1 : 0;
  return NULL;
}

#define METHOD(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_default, NULL}
#define GETTER(name, fn) {name, NULL, NULL, fn, NULL, NULL, napi_default, NULL}

static napi_value init(napi_env env, napi_value exports) {
  napi_value ctor, fn;
  const char *log_env = getenv("XIAOZHI_SPHINX_LOG");
  echo_log_to_stderr = log_env && log_env[0] && strcmp(log_env, "0") != 0;
  /* The library also prints its whole configuration to the log stream on every ps_init; point
   * that stream at /dev/null unless logging was asked for, then route messages to our callback. */
  if (!echo_log_to_stderr) {
    FILE *sink = fopen("/dev/null", "w");
    if (sink) err_set_logfp(sink);
  }
  err_set_callback(capture_log, NULL);

  napi_property_descriptor props[] = {
      METHOD("setJsgf", decoder_set_jsgf),
      METHOD("setKeyphrase", decoder_set_keyphrase),
      METHOD("addWord", decoder_add_word),
      METHOD("lookupWord", decoder_lookup_word),
      METHOD("startUtterance", decoder_start_utterance),
      METHOD("processRaw", decoder_process_raw),
      METHOD("processRawAsync", decoder_process_raw_async),
      METHOD("partial", decoder_partial),
      METHOD("endUtterance", decoder_end_utterance),
      METHOD("endUtteranceAsync", decoder_end_utterance_async),
      METHOD("free", decoder_free),
      GETTER("busy", decoder_get_busy),
      GETTER("freed", decoder_get_freed),
      GETTER("inUtterance", decoder_get_in_utterance),
  };
  CALL(env, napi_define_class(env, "Decoder", NAPI_AUTO_LENGTH, decoder_new, NULL,
                              sizeof props / sizeof props[0], props, &ctor));
  CALL(env, napi_set_named_property(env, exports, "Decoder", ctor));
  CALL(env, napi_create_function(env, "setLogToStderr", NAPI_AUTO_LENGTH, set_log_to_stderr, NULL, &fn));
  CALL(env, napi_set_named_property(env, exports, "setLogToStderr", fn));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

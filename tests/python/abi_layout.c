/* Prints the size of every public struct of ramstrans.h and the offset and size of each of its
 * fields, one "struct field offset size" line each ("struct - size" for the whole), for
 * tests/python/test_api.py to compare with the ctypes mirrors in python/ramstrans/_lib.py.
 * test_api.py also reads the field names from the header itself, so a field added there and
 * missing here or in the mirrors fails the test. */
#include <stddef.h>
#include <stdio.h>

#include "ramstrans.h"

#define S(type) printf("%s - %zu\n", #type, sizeof(type))
#define F(type, field) \
    printf("%s %s %zu %zu\n", #type, #field, offsetof(type, field), sizeof(((type *)0)->field))

int main(void)
{
    S(rams_model_params);
    F(rams_model_params, size);
    F(rams_model_params, use_mmap);
    F(rams_model_params, max_file_bytes);
    F(rams_model_params, precision);
    F(rams_model_params, kernel);
    F(rams_model_params, threads);
    S(rams_preprocess);
    F(rams_preprocess, resize_mode);
    F(rams_preprocess, resize_width);
    F(rams_preprocess, resize_height);
    F(rams_preprocess, resize_shorter);
    F(rams_preprocess, crop_width);
    F(rams_preprocess, crop_height);
    F(rams_preprocess, mean);
    F(rams_preprocess, std);
    S(rams_model_info);
    F(rams_model_info, image_size);
    F(rams_model_info, patch_size);
    F(rams_model_info, grid);
    F(rams_model_info, hidden_size);
    F(rams_model_info, num_heads);
    F(rams_model_info, num_layers);
    F(rams_model_info, mlp_size);
    F(rams_model_info, num_classes);
    F(rams_model_info, ln_eps);
    F(rams_model_info, alpha);
    F(rams_model_info, default_mode);
    F(rams_model_info, dtype);
    F(rams_model_info, file_bytes);
    F(rams_model_info, preprocess);
    F(rams_model_info, num_cls_tokens);
    F(rams_model_info, precision);
    F(rams_model_info, kernel);
    S(rams_context_params);
    F(rams_context_params, size);
    F(rams_context_params, threads);
    S(rams_run_params);
    F(rams_run_params, size);
    F(rams_run_params, result_size);
    F(rams_run_params, mode);
    F(rams_run_params, top_k);
    F(rams_run_params, want_rollout);
    F(rams_run_params, want_crop);
    F(rams_run_params, max_pixels);
    F(rams_run_params, want_image);
    F(rams_run_params, want_input);
    S(rams_prediction);
    F(rams_prediction, index);
    F(rams_prediction, label);
    F(rams_prediction, prob);
    S(rams_box);
    F(rams_box, top);
    F(rams_box, left);
    F(rams_box, bottom);
    F(rams_box, right);
    S(rams_result);
    F(rams_result, mode);
    F(rams_result, num_classes);
    F(rams_result, top_k);
    F(rams_result, top);
    F(rams_result, probs);
    F(rams_result, logits_scale1);
    F(rams_result, logits_scale2);
    F(rams_result, has_box);
    F(rams_result, box_is_fallback);
    F(rams_result, box);
    F(rams_result, has_image_box);
    F(rams_result, image_box);
    F(rams_result, image_width);
    F(rams_result, image_height);
    F(rams_result, grid);
    F(rams_result, rollout);
    F(rams_result, mask);
    F(rams_result, threshold);
    F(rams_result, crop);
    F(rams_result, probs_scale1);
    F(rams_result, probs_scale2);
    F(rams_result, probs_fused);
    F(rams_result, top_scale1);
    F(rams_result, top_scale2);
    F(rams_result, top_fused);
    F(rams_result, image_rgb);
    F(rams_result, input);
    F(rams_result, input_size);
    return 0;
}
